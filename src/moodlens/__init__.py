"""moodlens: facial emotion recognition you can train, evaluate and run offline."""

import os

# ONNX Runtime's Linux builds record telemetry events and a device id under ~/.cache/Microsoft unless this
# is set before the runtime initialises, which happens on the first import of onnxruntime below.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from .pipeline import Analyzer
from .results import Face, ImageResult

__all__ = ["Analyzer", "Face", "ImageResult"]
__version__ = "0.1.0"
