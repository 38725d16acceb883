"""Re-ID's rows of the report: vanilla against reinforced attention, Rank-1 and mAP.

The paper reports gains, not a task we can run (Market-1501 / DukeMTMC-reID are not
reachable here): `GAINS` holds them for the docs; the table shows our runs only.
"""

from __future__ import annotations

from attn_rl.core import tables

MARKERS = ("<!-- reid-table:begin -->", "<!-- reid-table:end -->")
# Li & Chen 2020, Table 2: reinforced minus vanilla attention network, (Rank-1, mAP) points.
GAINS = {"market1501": (1.4, 0.7), "dukemtmc_reid": (3.2, 2.6)}


def fields(values: dict) -> dict:
  """A re-ID run's dataset, attention module and critics, read from its config."""
  return {"dataset": values["data"]["dataset"], "attention": values["model"]["attention"],
          "critics": bool(values["dreal"]["critics"])}


def _metric(r: dict, key: str) -> str:
  text = f"{r[f'test_{key}_mean']:.2f}%"
  if r[f"test_{key}_std"] is not None:
    text += f" ± {r[f'test_{key}_std']:.2f}"
  if len(r[f"test_{key}_each"]) > 1:
    text += " (" + ", ".join(f"{v:.2f}" for v in r[f"test_{key}_each"]) + ")"
  return text


def table(rows: list[dict]) -> str:
  """Re-ID runs: per dataset and attention module, without and with critics."""
  lines = ["| dataset | attention | critics | seeds | steps | Rank-1 | mAP | wall (median) "
           "| runs |", "|---|---|---|---|---|---|---|---|---|"]
  reid = sorted((r for r in rows if r["method"] == "reid"),
                key=lambda r: (r["dataset"], r["attention"], r["num_steps"] or 0, r["critics"]))
  for r in reid:
    lines.append(
        f"| {r['dataset']} | {r['attention'].upper()} | "
        f"{'yes' if r['critics'] else 'no (vanilla)'} | {len(r['seeds'])} | "
        f"{r['num_steps'] or ''} | {_metric(r, 'rank1')} | {_metric(r, 'map')} | "
        f"{tables.wall_text(r)} | {tables.run_links(r)} |")
  return "\n".join(lines)
