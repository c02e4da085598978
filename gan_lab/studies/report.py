"""The tour's report: report.json (every number), report.md and a self-contained report.html
(figures embedded, opens in any browser with no server), and the README's results block,
regenerated from a report.json by experiments/readme_tables.py.

A report is {title, date, machine, versions, total_seconds, config, sections}; a section is
{key, title, status (ok, failed, skipped), error?, sentence, columns, rows, notes, figures,
seconds}, each figure {path (relative to the report), caption (what it shows)}. Reports from
before captions list bare paths; they read with the file name as the caption.
"""

import base64
import datetime
import html
import importlib.metadata
import json
import os
import platform
import re

import jax

from gan_lab.core.errors import UserError
from gan_lab.runs import workdirs
from gan_lab.studies.tables import cell, markdown_table

FILES = ("report.json", "report.md", "report.html")
README_BEGIN = "<!-- tour-results:begin (experiments/readme_tables.py writes this block) -->"
README_END = "<!-- tour-results:end -->"
_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "tensorflow-datasets", "numpy")


def check_free(workdir: str) -> None:
  """Refuses a workdir that holds a report already, so that none is overwritten."""
  workdirs.refuse_existing((os.path.join(workdir, name) for name in FILES), "--workdir")


def cpu_model() -> str:
  """The CPU's model name and widest vector ISA, as /proc/cpuinfo gives them (Linux)."""
  try:
    with open("/proc/cpuinfo") as f:
      info = f.read()
  except OSError:
    return platform.processor() or platform.machine()
  name = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
  flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", info, re.M)
  flags = set(flags.group(1).split()) if flags else set()
  isa = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                        ("avx", "AVX"), ("asimd", "NEON")) if flag in flags), "")
  return (name.group(1).strip() if name else platform.machine()) + (f", {isa}" if isa else "")


def machine() -> str:
  device = jax.devices()[0]
  return (f"{os.cpu_count()}-core {platform.machine()} {platform.system()} host "
          f"({cpu_model()}), {jax.device_count()} x {device.device_kind} ({device.platform})")


def make(sections: list[dict], config, seconds: float) -> dict:
  versions = {"python": platform.python_version()}
  for name in _PACKAGES:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = "not installed"
  return {"title": "gan_lab: the lecture in one run",
          "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "machine": machine(), "versions": versions, "total_seconds": seconds,
          "config": json.loads(config.to_json_best_effort()), "sections": sections}


def _figures(section: dict) -> list[dict]:
  """The section's figures as {path, caption}, also those of a report from before captions."""
  return [f if isinstance(f, dict) else {"path": f, "caption": os.path.basename(f)}
          for f in section["figures"]]


def _status_line(section: dict) -> str:
  if section["status"] == "ok":
    return f"{section['seconds']:.0f} s"
  return f"{section['status'].upper()}: {section.get('error', '')}"


def to_markdown(rep: dict) -> str:
  out = [f"# {rep['title']}\n", f"{rep['date']} on {rep['machine']}; "
         f"{rep['total_seconds']:.0f} s in all.\n"]
  for i, s in enumerate(rep["sections"], 1):
    out.append(f"## {i}. {s['title']}\n")
    out.append(f"*{_status_line(s)}*\n")
    if s["status"] != "ok":
      continue
    out.append(s["sentence"] + "\n")
    out.append(markdown_table(s["columns"], s["rows"]))
    out += [note + "\n" for note in s["notes"]]
    out += [f"![{f['caption']}]({f['path']})\n\n*{f['caption']}*\n" for f in _figures(s)]
  out.append("## The run\n")
  out.append(markdown_table(["stage", "status", "seconds"],
                            [[s["key"], s["status"], s["seconds"]] for s in rep["sections"]]))
  out.append(markdown_table(["package", "version"], list(rep["versions"].items())))
  out.append("<details><summary>Config</summary>\n\n```json\n" +
             json.dumps(rep["config"], indent=2) + "\n```\n\n</details>\n")
  return "\n".join(out)


def _html_table(columns, rows) -> str:
  head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
  body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>"
                 for row in rows)
  return f"<table><tr>{head}</tr>{body}</table>"


def _embedded(path: str, caption: str) -> str:
  with open(path, "rb") as f:
    data = base64.b64encode(f.read()).decode("ascii")
  return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
          f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def to_html(rep: dict, workdir: str) -> str:
  e = html.escape
  parts = [f"<h1>{e(rep['title'])}</h1>",
           f"<p>{e(rep['date'])} on {e(rep['machine'])}; {rep['total_seconds']:.0f} s in all.</p>"]
  for i, s in enumerate(rep["sections"], 1):
    parts.append(f"<h2>{i}. {e(s['title'])}</h2><p><em>{e(_status_line(s))}</em></p>")
    if s["status"] != "ok":
      continue
    parts.append(f"<p>{e(s['sentence'])}</p>{_html_table(s['columns'], s['rows'])}")
    parts += [f"<p>{e(note)}</p>" for note in s["notes"]]
    parts += [_embedded(os.path.join(workdir, f["path"]), f["caption"]) for f in _figures(s)]
  parts.append("<h2>The run</h2>")
  parts.append(_html_table(["stage", "status", "seconds"],
                           [[s["key"], s["status"], s["seconds"]] for s in rep["sections"]]))
  parts.append(_html_table(["package", "version"], list(rep["versions"].items())))
  # Folded: the config is most of the page's height and few readers need it.
  parts.append(f"<details><summary>Config</summary><pre>{e(json.dumps(rep['config'], indent=2))}"
               "</pre></details>")
  style = ("body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
           "padding:2px 8px;text-align:right}img{max-width:100%}figure{display:inline-block;"
           "margin:0.5em}figcaption{font-size:small;color:#555}")
  return (f'<!doctype html><html><head><meta charset="utf-8"><title>{e(rep["title"])}</title>'
          f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write(rep: dict, workdir: str) -> list[str]:
  """Writes report.json, report.md and report.html into `workdir`; returns their paths."""
  check_free(workdir)
  paths = [os.path.join(workdir, name) for name in FILES]
  with open(paths[0], "w") as f:
    json.dump(rep, f, indent=2)
  with open(paths[1], "w") as f:
    f.write(to_markdown(rep))
  with open(paths[2], "w") as f:
    f.write(to_html(rep, workdir))
  return paths


def readme_block(rep: dict) -> str:
  """The README's results: every finished section's table and sentence, with date and machine."""
  date = rep["date"][:10]
  out = [README_BEGIN,
         f"Measured {date} on a {rep['machine']} by one run of the tour, what `make demo` "
         f"runs ({rep['total_seconds']:.0f} s in all; jax {rep['versions']['jax']}). "
         "Regenerate with `python experiments/readme_tables.py --report=<workdir>/report.json`.",
         ""]
  for s in rep["sections"]:
    if s["status"] != "ok":
      out += [f"**{s['title']}**: not measured in this run ({s['status']}).", ""]
      continue
    out += [f"**{s['title']}** ({s['seconds']:.0f} s). {s['sentence']}", "",
            markdown_table(s["columns"], s["rows"])]
  out.append(README_END)
  return "\n".join(out)


def update_readme(readme: str, report_path: str) -> str:
  """Replaces the results block of the README at `readme` with one made from `report_path`."""
  rep = workdirs.read_json(report_path, "pass the report.json that a tour wrote.")
  with open(readme) as f:
    text = f.read()
  pattern = re.compile(re.escape(README_BEGIN) + ".*?" + re.escape(README_END), re.S)
  if not pattern.search(text):
    raise UserError(f"{readme} has no results block; add the two lines {README_BEGIN} and "
                    f"{README_END} where the tables should go.")
  with open(readme, "w") as f:
    f.write(pattern.sub(lambda _: readme_block(rep), text))
  return readme
