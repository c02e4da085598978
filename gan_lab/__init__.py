"""gan_lab: JAX/Flax research code for CNNs, GANs and adversarial examples."""

__version__ = "0.1.0"
