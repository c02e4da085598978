"""Result tables as the studies print and write them: markdown, and JSON beside it."""

import json
import os

import numpy as np

from gan_lab.runs import workdirs


def cell(value) -> str:
  """A table cell: 3 significant digits, separators for thousands, blank for None."""
  if isinstance(value, int) and not isinstance(value, bool):
    return f"{value:,}"
  if isinstance(value, float):
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
  return "" if value is None else str(value)


def mean_std(values) -> str:
  """"mean ± std" of per-seed values; one value alone reads "value (1 seed)", since a std of 0
  from one seed would pass for a measured spread."""
  values = np.asarray(values, np.float64)
  if len(values) == 1:
    return f"{values[0]:.3f} (1 seed)"
  return f"{values.mean():.3f} ± {values.std():.3f}"


def markdown_table(columns, rows) -> str:
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


def by_eps(results: dict, metrics: list[str]) -> tuple[list[str], list[list]]:
  """(columns, rows) of {name: results per eps}: one row per (name, eps), one column per
  metric (blank where a result lacks it)."""
  rows = [[name, r["eps"], *(r.get(m) for m in metrics)]
          for name, per_eps in results.items() for r in per_eps]
  return ["model", "eps", *metrics], rows


def table_paths(out: str, name: str) -> list[str]:
  """`out`/`name`.json and .md; refuses (before any work, when called first) existing ones."""
  paths = [os.path.join(workdirs.writable_dir(out), f"{name}.{ext}") for ext in ("json", "md")]
  workdirs.refuse_existing(paths)
  return paths


def write_table(results: dict, metrics: list[str], out: str, name: str, **meta) -> str:
  """`out`/`name`.json ({name: results per eps} and `meta`) and `out`/`name`.md; refuses to
  overwrite either. Returns the .md path."""
  paths = table_paths(out, name)
  os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
  with open(paths[0], "w") as f:
    json.dump({**meta, "rows": results}, f, indent=2)
  with open(paths[1], "w") as f:
    f.write(markdown_table(*by_eps(results, metrics)))
  return paths[1]
