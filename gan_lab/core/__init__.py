"""Layer 1 of gan_lab: the errors, names and defaults every other layer uses.

Modules here import nothing else of gan_lab (docs/architecture.md).
"""
