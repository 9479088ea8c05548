"""Scoring models and detectors, evaluation reports, and export to ONNX (the [train] extra)."""
