"""Where a run's numbers go: metrics.jsonl, TensorBoard event files, and progress lines.

TensorBoard files are written with tensorboardX, so `tensorboard --logdir=<workdir>` reads
them without TensorFlow installed.
"""

import json
import math
import os
import sys

import numpy as np
import tensorboardX
import tqdm
from absl import logging

METRICS_FILE = "metrics.jsonl"
PARTIAL_SUFFIX = ".partial"  # metrics.jsonl.partial: lines a killed run left half-written.


def _parse(workdir: str) -> tuple[list[dict], list[str]]:
  """(records, lines that do not parse: cut short by a run killed mid-write)."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return [], []
  records, partial = [], []
  with open(path) as f:
    for line in f:
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError:
        partial.append(line)
  return records, partial


def read_metrics(workdir: str) -> list[dict]:
  """The records of <workdir>/metrics.jsonl, oldest first ([] when there is none)."""
  return _parse(workdir)[0]


class MetricWriter:
  """Appends `{"step": s, name: value, ...}` lines to metrics.jsonl, and scalars and image
  grids to TensorBoard."""

  def __init__(self, workdir: str, resume_step: int = 0):
    self._path = os.path.join(workdir, METRICS_FILE)
    # Lines past the checkpoint we resume from belong to a run that was cut short; the resumed
    # run writes those steps again, so keep the log to one line per step.
    records, partial = _parse(workdir)
    if partial:  # Kept aside, never dropped: they may matter to whoever reads the log.
      with open(self._path + PARTIAL_SUFFIX, "a") as f:
        f.writelines(line if line.endswith("\n") else line + "\n" for line in partial)
      logging.warning("%d line(s) of %s were cut short (a run killed mid-write); kept them "
                      "in %s%s.", len(partial), self._path, self._path, PARTIAL_SUFFIX)
    kept = [r for r in records if r["step"] <= resume_step]
    with open(self._path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(self._path + ".tmp", self._path)
    # purge_step makes TensorBoard drop the cut-short run's events past the resumed step.
    self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"),
                                          purge_step=resume_step + 1 if resume_step else None)

  def write(self, step: int, scalars: dict, images: dict | None = None) -> None:
    """`scalars` to both; `images` ({name: [N, H, W, C] in [0, 1]}) to TensorBoard only, each
    as one grid."""
    record = {"step": int(step), **{k: _to_json(v) for k, v in scalars.items()}}
    with open(self._path, "a") as f:
      f.write(json.dumps(record) + "\n")
    for k, v in record.items():
      if k != "step" and v is not None:
        self._tb.add_scalar(k, v, step)
    for k, v in (images or {}).items():
      self._tb.add_images(k, np.clip(np.asarray(v, np.float32), 0.0, 1.0), step,
                          dataformats="NHWC")

  def close(self) -> None:
    self._tb.close()


def _to_json(value):
  value = float(np.asarray(value))
  return value if math.isfinite(value) else None  # JSON has no NaN; None marks it.


class Progress:
  """A tqdm bar on a terminal; one log line per update otherwise (CI logs, batch jobs)."""

  def __init__(self, total: int, initial: int = 0, desc: str = "train"):
    self._bar = tqdm.tqdm(total=total, initial=initial, desc=desc, unit="step",
                          dynamic_ncols=True) if sys.stderr.isatty() else None
    self._total, self._desc = total, desc

  def update(self, step: int, scalars: dict) -> None:
    text = " ".join(f"{k}={float(v):.4g}" for k, v in scalars.items())
    if self._bar is not None:
      self._bar.update(step - self._bar.n)
      self._bar.set_postfix_str(text, refresh=True)
    else:
      logging.info("%s step %d/%d %s", self._desc, step, self._total, text)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
