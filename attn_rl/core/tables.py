"""Cell formatting shared by the methods' results tables (tools/report.py builds the rows)."""

from __future__ import annotations


def error_text(r: dict, key: str = "error") -> str:
  """'mean% ± std (each, ...)' of a summary row's test statistic `key` ('' if it has none)."""
  if r.get(f"test_{key}_mean") is None:
    return ""
  err = f"{r[f'test_{key}_mean']:.2f}%"
  if r.get(f"test_{key}_std") is not None:
    err += f" ± {r[f'test_{key}_std']:.2f}"
  if len(r.get(f"test_{key}_each") or []) > 1:
    err += " (" + ", ".join(f"{e:.2f}" for e in r[f"test_{key}_each"]) + ")"
  return err


def wall_text(r: dict) -> str:
  """Median wall time; for seeds trained together (train.num_seeds), the process's, marked."""
  if r["wall_minutes_median"] is None:
    return ""
  per_process = r.get("seeds_per_process") or [1]
  together, shared = max(per_process), sum(n > 1 for n in per_process)
  note = ("" if together == 1 else f" ({together} seeds in one process)"
          if shared == len(per_process) else f" ({shared} runs: {together} seeds in one process)")
  return f"{r['wall_minutes_median']:.0f} min{note}"


def run_links(r: dict, *, short: bool = False) -> str:
  """Links to each run's run.json, named by the run (`short`: by its seed, s0, s1, ...)."""
  return ", ".join(f"[{f's{seed}' if short else n}](results/{n}/run.json)"
                   for n, seed in zip(r["runs"], r["seeds"], strict=True))


def percent(x: float | None) -> str:
  return "" if x is None else f"{x:.2f}%"
