"""Layer 4 of gan_lab: a run in its workdir: the experiments registry, checkpoints, metrics
files, restoring a run, and the one training loop (`loop.train_and_evaluate`)."""
