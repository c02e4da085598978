"""Names that configs use to pick a model, dataset, GAN loss, attack or experiment.

A name is either registered here (`MODELS.register("MyNet")` as a decorator, or
`MODELS.register("MyNet", MyNet)`) or written as "package.module:attribute", which imports
the attribute from the user's own code. So extending gan_lab is one file of one's own and one
config value: `--config.model=my_lab.nets:WideCNN` works from the unchanged scripts.
"""

import importlib

from gan_lab.core.errors import UserError


class Registry(dict):
  """{name: object} of one kind, plus "module:attribute" lookups of user code."""

  def __init__(self, kind: str, entries: dict | None = None):
    super().__init__(entries or {})
    self.kind = kind

  def register(self, name: str, value=None):
    """Adds `value` under `name`; without `value`, a decorator that adds what it decorates."""
    def add(v):
      if name in self or ":" in name:
        raise ValueError(f"Cannot register {self.kind} {name!r}: the name is taken or has a ':'.")
      self[name] = v
      return v
    return add if value is None else add(value)

  def lookup(self, name: str, of_type: type | None = None):
    """The object registered as `name`, or imported from "module:attribute"; with `of_type`,
    one sentence unless it is an instance of that type."""
    value = self[name] if name in self else self._import(name)
    if of_type is not None and not isinstance(value, of_type):
      raise UserError(f"{self.kind[:1].upper()}{self.kind[1:]} {name!r} is a "
                      f"{type(value).__name__}, not a {of_type.__module__}.{of_type.__qualname__}.")
    return value

  def _import(self, name: str):
    module_name, colon, attribute = str(name).partition(":")
    if not colon:
      raise UserError(f"Unknown {self.kind} {name!r}; choose one of {', '.join(self)}, or name "
                      f"your own as 'package.module:attribute'.")
    try:
      return getattr(importlib.import_module(module_name), attribute)
    except ImportError as e:
      raise UserError(f"Cannot import {self.kind} {name!r}: {e}; make {module_name!r} "
                      "importable (install it, or add its folder to PYTHONPATH).") from e
    except AttributeError as e:
      raise UserError(f"Cannot import {self.kind} {name!r}: module {module_name!r} has no "
                      f"attribute {attribute!r}.") from e
