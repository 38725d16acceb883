"""DRAM's rows of the report: sequence and digit errors of DRAM, the unified model and the
CNN on each sequence task, beside the papers' numbers where a paper ran that task.

  SVHN (whole-sequence error, "Where to look" Table 3): 11-layer CNN (Goodfellow et al. 2014)
  3.96%, 10-layer CNN (Ba et al. 2015) 4.11%, DRAM (18 glimpses 12x12, 2 scales) 5.1%, the
  unified model with entropy 4.58%, with entropy + context 4.03%.
  MNIST pairs (Ba et al. 2015, Table 1, as the issue quotes it; the DRAM paper is not among
  the texts here): RAM 9%, DRAM without context 7%, DRAM 5%.
  MNIST addition (Ba et al. 2015 ran it; its numbers are not in the texts here): no paper column.
Multi-digit MNIST is our offline task: no paper ran it.
"""

from __future__ import annotations

from attn_rl.core import tables

# The table is long: it lives on the method's docs page, not the README.
PAGE = "docs/dram.md"
MARKERS = ("<!-- dram-table:begin -->", "<!-- dram-table:end -->")

# (dataset, arm) -> (paper's test error in %, source).
PAPER_ERRORS = {
    ("svhn", "cnn"): (3.96, "Goodfellow et al. 11-layer CNN"),
    ("svhn", "dram"): (5.1, "Chen et al. 2021, Table 3"),
    ("svhn", "entropy"): (4.58, "Chen et al. 2021, Table 3"),
    ("svhn", "full"): (4.03, "Chen et al. 2021, Table 3"),
    ("mnist_pairs", "dram"): (5.0, "Ba et al. 2015, Table 1"),
    ("mnist_pairs", "nocontext"): (7.0, "Ba et al. 2015, Table 1"),
}
ARM_NAMES = {"dram": "DRAM", "nocontext": "DRAM without context",
             "entropy": "unified (entropy)", "full": "unified (entropy + context)",
             "context": "unified (context only)", "cnn": "CNN (Goodfellow-style)",
             "scan": "fixed raster, no RL (control)"}
_ORDER = ("cnn", "scan", "nocontext", "dram", "entropy", "context", "full")


def arm(values: dict) -> str:
  """The comparison arm of a run's config."""
  if values["method"] == "seq_cnn":
    return "cnn"
  if values["model"].get("policy", "learned") == "scan":
    return "scan"
  unified = values["unified"]
  if unified["entropy"]:
    return "full" if unified["context"] else "entropy"
  if unified["context"]:
    return "context"
  return "dram" if values["model"]["context"] else "nocontext"


def fields(values: dict) -> dict:
  name = arm(values)
  dataset = values["data"]["dataset"]
  # The bounded location mean departs from the papers: no paper number beside it.
  tanh = values["method"] == "dram" and values["model"]["location_mean"] == "tanh"
  paper = None if tanh else PAPER_ERRORS.get((dataset, name))
  return {"dataset": dataset, "arm": name, "tanh": tanh, "policy": policy(values, name),
          "paper_error": paper[0] if paper else None}


def policy(values: dict, name: str) -> str:
  """How the locations were learned: the policy's learning rate and sigma ('' for the CNN)."""
  if name == "cnn":
    return ""
  if name == "scan":
    return "none"
  o, m = values["optim"], values["model"]
  return f"rate {o['learning_rate'] * o.get('location_lr_scale', 1.0):.0e}, σ {m['loc_std']:g}"


def _cell(r: dict, key: str) -> str:
  if r.get(f"test_{key}_mean") is None:
    return ""
  text = f"{r[f'test_{key}_mean']:.2f}%"
  if r.get(f"test_{key}_std") is not None:
    text += f" ± {r[f'test_{key}_std']:.2f}"
  return text


def table(rows: list[dict]) -> str:
  """Per sequence task and arm: whole-sequence and per-digit test error over seeds."""
  lines = ["| task | model | policy | seeds | steps | sequence error | M=1 | deterministic "
           "| digit error | paper | wall (median) | runs |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  ours = sorted((r for r in rows if r["method"] in ("dram", "seq_cnn")),
                key=lambda r: (r["dataset"], r["tanh"], r.get("policy", ""),
                               _ORDER.index(r["arm"]), r["num_steps"] or 0))
  for r in ours:
    m = f" (M={r['eval_rollouts']})" if r["eval_rollouts"] else ""
    runs = tables.run_links(r, short=True)
    lines.append(
        f"| {r['dataset']} | {ARM_NAMES[r['arm']]}{', tanh mean' if r['tanh'] else ''} | "
        f"{r.get('policy', '')} | {len(r['seeds'])} | {r['num_steps']} | "
        f"{tables.error_text(r)}{m} | {tables.percent(r['test_error_m1_mean'])} | "
        f"{tables.percent(r.get('test_error_det_mean'))} | {_cell(r, 'error_digit')} | "
        f"{tables.percent(r['paper_error'])} | {tables.wall_text(r)} | {runs} |")
  return "\n".join(lines)
