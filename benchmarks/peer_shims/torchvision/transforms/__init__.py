import numpy as np
from PIL import Image

from . import functional


class Compose:
    def __init__(self, steps):
        self.steps = steps

    def __call__(self, x):
        for step in self.steps:
            x = step(x)
        return x


class ToPILImage:
    def __call__(self, array):
        return Image.fromarray(np.asarray(array))


class Resize:
    def __init__(self, size):
        self.size = size

    def __call__(self, image):
        return image.resize((self.size[1], self.size[0]), Image.BILINEAR)


class ToTensor:
    def __call__(self, image):
        return functional.to_tensor(image)


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = tensor.new_tensor(self.mean)[:, None, None]
        std = tensor.new_tensor(self.std)[:, None, None]
        return (tensor - mean) / std
