"""moodlens: facial emotion recognition you can train, evaluate and run offline."""

__version__ = "0.1.0"
