"""moodlens: facial emotion recognition you can train, evaluate and run offline."""

import os

# ONNX Runtime's Linux builds record telemetry events and a device id under ~/.cache/Microsoft unless this
# is set before the runtime initialises, which happens on the first import of onnxruntime below.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from moodlens.runtime.pipeline import Analyzer
from moodlens.runtime.results import Face, ImageResult, to_dataframe

__all__ = ["Analyzer", "Face", "ImageResult", "to_dataframe"]
__version__ = "0.2.0"
