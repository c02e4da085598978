"""Native kernels, built on the user's machine by `python -m gan_lab.native.build`."""
