"""A run's working directory: checked before anything is written, and its config.json.

A workdir is either new/empty, or holds a gan_lab run (a `config.json`). Re-running a config
on its own workdir resumes; the keys in `RESUMABLE_CHANGES` may differ on resume (train
longer, log more often; the length only with a constant learning rate, since a schedule's
shape depends on it); any other difference means another experiment, which gets its own
workdir rather than overwriting this one.

Workdirs are local paths (or mounted ones, e.g. gcsfuse); URLs such as gs://BUCKET/run are
refused with one sentence rather than written to a folder named "gs:" under the cwd.
"""

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time

import jax
import ml_collections

from gan_lab.core.config import ADDED_FIELDS
from gan_lab.core.errors import UserError

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"  # Hidden: a workdir that holds only it still counts as empty.
RESUMABLE_CHANGES = frozenset({
    "num_epochs", "num_steps", "log_every", "eval_every", "checkpoint_every",
    "keep_checkpoints", "data_dir", "on_device", "parallel", "conv",
    "gan.classifier_workdir", "gan.num_eval_samples",  # Only what is measured at eval.
})


def _flatten(d, prefix=""):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _as_json_dict(config) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def local_path(path: str, flag: str = "--workdir") -> str:
  """`path` as an absolute local path; one sentence for a URL, which gan_lab cannot write."""
  if "://" in str(path):
    raise UserError(f"{flag}={path} is a URL; gan_lab writes local paths only: mount the "
                    "bucket (e.g. with gcsfuse) and pass its local path.")
  return os.path.abspath(path)


def writable_dir(path: str, flag: str = "--out", shown: str | None = None) -> str:
  """`path` as an absolute local path of a folder that can be written or created there,
  checked before any work (so a bad --out never throws finished work away) and without
  creating anything; one sentence naming `flag`=`shown` (default `path`) if not."""
  path = local_path(path, flag)
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  try:
    if not os.path.isdir(existing):
      raise NotADirectoryError(f"{existing} is a file")
    # A real probe: access() says yes to root even where nothing can be made (/proc).
    os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".gan_lab_probe_"))
  except OSError as e:
    raise UserError(f"{flag}={shown or path} cannot be written ({e.strerror or e}); choose a "
                    "writable path.") from e
  return path


def refuse_existing(paths, what: str = "--out") -> None:
  """One sentence, before any work, when a result would overwrite one of `paths`."""
  for path in paths:
    if os.path.exists(path):
      raise UserError(f"{path} exists; choose another {what} so that nothing is overwritten.")


def next_free_dir(parent: str) -> str:
  """parent/1, parent/2, ...: the first that does not exist, so no result is overwritten."""
  k = 1
  while os.path.exists(os.path.join(parent, str(k))):
    k += 1
  return os.path.join(parent, str(k))


def _create(workdir: str) -> None:
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise UserError(f"Cannot create workdir {workdir} ({e.strerror}); choose a writable "
                    "path.") from e


@contextlib.contextmanager
def lock(workdir: str):
  """Holds an exclusive OS lock on `workdir` (process 0 of a run) while the block runs.

  A second run of the same workdir gets one sentence naming the holder. The lock is
  `fcntl.flock` on <workdir>/.lock: the OS releases it when its holder exits, even when
  killed with SIGKILL, so a stale lock file never blocks a later run. A lock that guarded
  nothing (the run was refused before writing) leaves no file or folder behind.
  """
  if jax.process_index() != 0:  # One lock per run, taken by its process 0.
    yield
    return
  workdir = local_path(workdir)
  created_dir = not os.path.exists(workdir)
  _create(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  created_file = not os.path.exists(path)
  try:
    f = open(path, "a+")  # pylint: disable=consider-using-with  # Held across the yield.
  except OSError as e:
    raise UserError(f"Workdir {workdir} is not writable ({e.strerror}); choose a writable "
                    "path.") from e
  try:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
      f.seek(0)
      holder = f.read().strip() or "another process"
      created_file = created_dir = False  # Its holder's, not ours.
      raise UserError(f"Workdir {workdir} is in use by another run ({holder}); wait for it to "
                      "finish, or give this run its own --workdir.") from e
    f.seek(0)
    f.truncate()
    f.write(f"process {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    f.flush()
    yield
  finally:
    f.close()
    if created_file and not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
      os.remove(path)  # The run was refused before it began: leave the folder as it was.
      if created_dir and not os.listdir(workdir):
        os.rmdir(workdir)


PREVIOUS_DIR = "previous"  # <workdir>/previous/<k>/: results of runs started over.


def set_aside_results(workdir: str) -> str:
  """Moves everything a run wrote in `workdir` but its config, lock and (empty) checkpoint
  folder into <workdir>/previous/<k>/ (the next free k); returns that folder."""
  aside = next_free_dir(os.path.join(workdir, PREVIOUS_DIR))
  os.makedirs(aside)
  for name in os.listdir(workdir):
    if name not in (CONFIG_FILE, LOCK_FILE, PREVIOUS_DIR, "checkpoints"):
      os.replace(os.path.join(workdir, name), os.path.join(aside, name))
  return aside


def _resumable(config: dict) -> frozenset:
  """The keys that may change on resume: the length only when every schedule is constant."""
  schedules = [v for k, v in _flatten(config).items() if k.split(".")[-1].endswith("lr_schedule")]
  if any(v != "constant" for v in schedules):  # A schedule's length is fixed.
    return RESUMABLE_CHANGES - {"num_epochs", "num_steps"}
  return RESUMABLE_CHANGES


def prepare(workdir: str, config: ml_collections.ConfigDict) -> str:
  """Checks that `workdir` can take a run of `config`, then writes config.json; returns abspath."""
  workdir = local_path(workdir)
  _create(workdir)
  if not os.access(workdir, os.W_OK) or not os.path.isdir(workdir):
    raise UserError(f"Workdir {workdir} is not writable; choose a writable path.")
  path = os.path.join(workdir, CONFIG_FILE)
  new = _as_json_dict(config)
  if os.path.exists(path):
    old = read_json(path)
    flat_old, flat_new = _flatten(old), _flatten(new)
    resumable = _resumable(new)
    added = {k for k, v in ADDED_FIELDS.items() if k not in flat_old and flat_new.get(k) == v}
    changed = sorted(k for k in flat_old.keys() | flat_new.keys()
                     if flat_old.get(k) != flat_new.get(k) and k not in resumable | added)
    if changed:
      raise UserError(
          f"Workdir {workdir} holds a run of another config (differs in {', '.join(changed)}); "
          "use a new workdir, or the same config to resume.")
  elif any(not name.startswith(".") for name in os.listdir(workdir)):
    raise UserError(
        f"Workdir {workdir} is not empty and holds no gan_lab run (no {CONFIG_FILE}); "
        "choose a new or empty directory so that nothing in it is overwritten.")
  if jax.process_index() == 0:  # One writer; hidden and atomic, so others never see half.
    tmp = os.path.join(workdir, f".{CONFIG_FILE}.tmp")
    with open(tmp, "w") as f:
      json.dump(new, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
  return workdir


def read_json(path: str, hint: str = "is this a gan_lab workdir?") -> dict:
  """The JSON object in `path`, or a UserError that names the file and ends with `hint`."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise UserError(f"Cannot read {path} ({e}); {hint}") from e


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in `workdir` was started with (read-only)."""
  path = os.path.join(local_path(workdir), CONFIG_FILE)
  if not os.path.exists(path):
    raise UserError(f"{workdir} holds no gan_lab run (no {CONFIG_FILE}); pass a run's --workdir.")
  return ml_collections.ConfigDict(read_json(path))
