"""RAM's rows of the report: the paper's test errors (Mnih et al. 2014) and its table.

`tools/report.py` reads `PAPER` (task and paper error of each result name), `CONFIG_FILES`
(result names that are a config variant), `fields` and `table`, and writes the table into the
README between `MARKERS`.
"""

from __future__ import annotations

from attn_rl.core import tables

MARKERS = ("<!-- results-table:begin -->", "<!-- results-table:end -->")

# config -> (task, the paper's test error in %, source). Mnih et al. 2014, Tables 1 and 2.
# A name `<config>_<variant>` is the variant of configs/<config>.py (see CONFIG_FILES).
_TRANSLATED = ("60x60 translated, 8 glimpses 12x12, 3 scales", 1.20, "Table 1b")
_CLUTTER = ("60x60 cluttered (4 pieces), 8 glimpses 12x12, 3 scales", 4.04, "Table 2a")
_CLUTTER100 = ("100x100 cluttered (8 pieces), 8 glimpses 12x12, 4 scales", 10.83,
               "Table 2b (arXiv)")


def _variant(row: tuple, change: str) -> tuple:
  """A paper row for a config variant: the task with what the variant changes."""
  task, error, source = row
  return f"{task}, {change}", error, source


PAPER = {
    "ram_mnist": ("28x28 MNIST, 6 glimpses 8x8, 1 scale", 1.12, "Table 1a"),
    "ram_mnist_glimpses7": ("28x28 MNIST, 7 glimpses 8x8, 1 scale", 1.07, "Table 1a"),
    "ram_translated": _TRANSLATED,
    "ram_translated_long": _variant(_TRANSLATED, "120,000 steps, tanh location mean"),
    "ram_clutter": _CLUTTER,
    "ram_clutter_long": _variant(_CLUTTER, "60,000 steps, tanh location mean"),
    "ram_clutter_long100k": _variant(_CLUTTER, "100,000 steps, tanh location mean"),
    "ram_clutter100": _CLUTTER100,
    "ram_clutter100_long": _variant(_CLUTTER100, "150,000 steps, tanh location mean"),
}

# Result names that are a variant of a config file -> the --config argument that runs them.
CONFIG_FILES = {"ram_mnist_glimpses7": "ram_mnist.py:glimpses7",
                "ram_translated_long": "ram_translated.py:long",
                "ram_clutter_long": "ram_clutter.py:long",
                "ram_clutter_long100k": "ram_clutter.py:long100k",
                "ram_clutter100_long": "ram_clutter100.py:long"}


def fields(values: dict) -> dict:
  """Nothing tells RAM runs apart beyond their config name."""
  del values
  return {}


def table(rows: list[dict]) -> str:
  """One row per RAM config: test error over seeds beside the paper's."""
  lines = ["| task | config | seeds | test error | M=1 | paper | wall (median) | runs |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if r["method"] != "ram":
      continue
    err = tables.error_text(r)
    m1 = tables.percent(r["test_error_m1_mean"])
    paper = tables.percent(r["paper_error"])
    wall, runs = tables.wall_text(r), tables.run_links(r)
    config_file = CONFIG_FILES.get(r["config"], f"{r['config']}.py")
    lines.append(f"| {r['task']} | `configs/{config_file}` | {len(r['seeds'])} | "
                 f"{err} (M={r['eval_rollouts']}) | {m1} | {paper} | {wall} | {runs} |")
  return "\n".join(lines)
