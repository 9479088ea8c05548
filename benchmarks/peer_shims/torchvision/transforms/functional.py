import numpy as np
import torch


def to_tensor(image) -> torch.Tensor:
    """HWC (or HW) image to a CHW float tensor; uint8 is scaled to [0, 1]."""
    array = np.array(image)
    if array.ndim == 2:
        array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    return tensor.float().div(255) if array.dtype == np.uint8 else tensor.float()
