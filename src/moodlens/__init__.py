"""moodlens: facial emotion recognition you can train, evaluate and run offline."""

from .pipeline import Analyzer
from .results import Face, ImageResult

__all__ = ["Analyzer", "Face", "ImageResult"]
__version__ = "0.1.0"
