"""Training emotion CNNs with PyTorch (the [train] extra); `config` alone imports no torch."""
