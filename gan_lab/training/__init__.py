"""Layer 3 of gan_lab: each experiment's state, jitted per-device step and evaluation.

Steps are pure functions `(state, batch, rng, *, axis_name) -> (state, metrics)` in the pmap
style; nothing here reads or writes a workdir (that is `gan_lab.runs`).
"""
