#!/usr/bin/env bash
# One command on a GPU (or TPU) machine: images/s, FLOP rate, MFU and peak device memory of
# the seed CNN's training at batch 1024, the DCGAN step and PGD-10, each in float32 and
# bfloat16 (config.dtype). Synthetic data and random weights: nothing is downloaded; a few
# minutes, mostly compilation. "mfu" is a workload's FLOP rate (XLA's count) over the
# device's measured matmul rate in the same dtype (the "host" line). Peak device memory is
# the process's high-water mark, so it holds for the largest workload before each line.
# AutoAttack is not here: on random weights it stops at once, and benchmarks/robust_eval.py
# (a trained model, beside torchattacks) is CPU-only so far.
#
#   bash benchmarks/gpu.sh            # from the repository, after `make install`
#   PYTHON=python3 bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
run() { "$PYTHON" benchmarks/run.py --json --dtype=float32,bfloat16 --repeats=5 "$@"; }
run --workload=seed_cnn_train --batch=1024 --steps=20
run --workload=dcgan_step,pgd10 --steps=20
