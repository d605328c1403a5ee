"""UNet size checking: descriptions, presets, obligations and the proved valid-size rule."""
