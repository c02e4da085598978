"""What the experiment scripts share: quiet library logs, bad input as one sentence, and
JAX's persistent compilation cache (gan_lab.core.compile_cache; GAN_LAB_COMPILE_CACHE=off
turns it off).

`GAN_LAB_DEBUG=1` prints the full traceback behind any one-sentence error as well.
"""

import logging
import os
import re
import sys
import traceback

from absl import app, flags

from gan_lab.core import compile_cache
from gan_lab.core.errors import UserError

# Libraries that log every checkpoint write or dataset preparation step at INFO.
_CHATTY = ("/orbax/", "/tensorflow_datasets/", "/jax/_src/")


class _QuietLibraries(logging.Filter):

  def filter(self, record):
    return record.levelno >= logging.WARNING or not any(p in record.pathname for p in _CHATTY)


def debug() -> bool:
  """Whether GAN_LAB_DEBUG asks for tracebacks behind the one-sentence errors."""
  return os.environ.get("GAN_LAB_DEBUG", "").lower() not in ("", "0", "false", "no")


def _fail(message: str, status: int = 2, prefix: str = "error") -> None:
  """Ends the program with `<prefix>: <message>` and `status` (the traceback too when
  debugging)."""
  if debug():
    traceback.print_exc()
  sys.stderr.write(f"{prefix}: {message}\n")
  sys.exit(status)


def _flag_error(argv, error: Exception) -> str:
  """One sentence for a flag that could not be parsed (config file, override key or value)."""
  if isinstance(error, flags.Error):
    return f"Bad flag: {str(error).splitlines()[0]}"
  if isinstance(error, OSError):
    path = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "?")
    return (f"Cannot load config file {path!r}; pass a file from experiments/configs/, "
            "e.g. --config=experiments/configs/seed_cnn_mnist5k.py.")
  if isinstance(error, (KeyError, AttributeError)):
    text = str(error)
    key = (re.search(r"'(\w+)'", text) or re.search(r"(\w+)", text)).group(1)
    override = next((a.split("=", 1)[0][2:] for a in argv
                     if a.startswith("--config.") and key in a.split("=", 1)[0].split(".")),
                    f"config...{key}")
    hint = re.search(r'Did you mean "([\w.]+)"', text)
    if hint:
      advice = f"did you mean {hint.group(1)!r}?"
    elif ".model_kwargs." in override:  # A model's own argument the config does not declare.
      advice = (f"a model's own arguments can be set from the command line once the config "
                f"file declares them (config.model_kwargs.{key} = <default>; see "
                "docs/extending.md).")
    else:
      advice = "check the config file."
    return f"Unknown config key {override!r}: the config has no field {key!r}; {advice}"
  return f"Bad flags: {type(error).__name__}: {error}"


def _parse_flags(argv):
  try:
    rest = flags.FLAGS(argv)
    for name in flags.FLAGS:
      # config_flags defers a config file's load error to the first use of its value.
      getattr(flags.FLAGS[name].value, "get", None)
    return rest
  except Exception as e:  # pylint: disable=broad-except
    # Flag, config-file and override errors surface as many types from deep in absl.
    _fail(_flag_error(argv, e))


def run(main):
  """`app.run(main)`, where a UserError ends the program with `error: <sentence>`, status 2,
  and Ctrl-C with one line and status 130."""

  def wrapped(argv):
    for handler in logging.getLogger().handlers:
      handler.addFilter(_QuietLibraries())
    compile_cache.enable()
    try:
      return main(argv)
    except UserError as e:  # A run stopped by a signal says so, with the signal's status.
      _fail(str(e), getattr(e, "exit_code", 2), getattr(e, "prefix", "error"))
    except KeyboardInterrupt:  # Ctrl-C outside a training loop, or twice inside one.
      _fail("interrupted; re-run the same command to resume from its last checkpoint.", 130,
            "stopped")

  app.run(wrapped, flags_parser=_parse_flags)


def floats(flag: str, values) -> list[float]:
  """A list flag's values as floats, or one sentence naming the bad one."""
  try:
    numbers = [float(v) for v in values]
  except ValueError as e:
    raise UserError(f"{flag} takes numbers separated by commas; got {','.join(values)}.") from e
  if not numbers:
    raise UserError(f"{flag} needs at least one number, e.g. {flag}=0.1,0.2.")
  return numbers


def named_paths(flag: str, values) -> dict:
  """{name: path} from a list flag of name=path items."""
  pairs = [v.split("=", 1) for v in values]
  if any(len(p) != 2 or not all(p) for p in pairs):
    raise UserError(f"{flag} takes name=workdir items separated by commas; got "
                    f"{','.join(values)}.")
  return dict(pairs)
