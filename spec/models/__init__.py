"""NumPy model specs mirroring TorchLean's CNN2, UNet2 and ResNet."""
