"""segan: speech denoising with SEGAN-family generative adversarial networks."""

__version__ = "0.1.0"
