"""The torch-free runtime: decoding, detection, crops, the ONNX classifier, `Analyzer`, results, video."""
