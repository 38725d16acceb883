"""DREAL's rows of the report: each attention module without and with critics."""

from __future__ import annotations

from attn_rl.core import tables

MARKERS = ("<!-- dreal-table:begin -->", "<!-- dreal-table:end -->")


def fields(values: dict) -> dict:
  """A DREAL run's attention module and critics, read from its config."""
  return {"attention": values["model"]["attention"], "critics": bool(values["dreal"]["critics"])}


def table(rows: list[dict]) -> str:
  """DREAL runs: each attention module without and with critics, same budget."""
  lines = ["| attention | critics | seeds | steps | test error | wall (median) | runs |",
           "|---|---|---|---|---|---|---|"]
  dreal = sorted((r for r in rows if r["method"] == "dreal"),
                 key=lambda r: (r["attention"], r["num_steps"] or 0, r["critics"]))
  for r in dreal:
    wall, runs = tables.wall_text(r), tables.run_links(r)
    lines.append(f"| {r['attention'].upper()} | {'yes' if r['critics'] else 'no (vanilla)'} | "
                 f"{len(r['seeds'])} | {r['num_steps'] or ''} | {tables.error_text(r)} | {wall} | "
                 f"{runs} |")
  return "\n".join(lines)
