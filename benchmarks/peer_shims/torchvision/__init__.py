"""A stand-in for the few torchvision pieces facenet-pytorch and facial-emotion-recognition use.

torchvision from PyPI does not import beside torch 2.13.0 here, so the peer benchmark puts this
folder first on PYTHONPATH for those peers only. moodlens itself never uses it.
"""
