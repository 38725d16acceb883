"""DREAL's rows of the report: each attention module without and with critics, and the
controlled arms of docs/dreal_investigation.md (a recipe knob changed from the paper's)."""

from __future__ import annotations

from attn_rl.core import tables
from attn_rl.methods.dreal import config as dreal_config

# The table is long: it lives on docs/results.md with its conditions, not the README.
PAGE = "docs/results.md"
MARKERS = ("<!-- dreal-table:begin -->", "<!-- dreal-table:end -->")


# The recipe knobs of the controlled arms; their defaults (methods/dreal/config.py) are the
# paper's values, and runs recorded before a knob existed ran at its default.
RECIPE_KNOBS = ("actor_delay_steps", "q_weight", "reward_transform", "critic_hidden",
                "redraw_every_steps")


def fields(values: dict) -> dict:
  """A DREAL run's attention module, critics and the recipe knobs it changed, from its config."""
  dreal, paper = values["dreal"], dreal_config.defaults().dreal
  changed = [f"{k}={dreal[k]}" for k in RECIPE_KNOBS if dreal.get(k, paper[k]) != paper[k]]
  return {"attention": values["model"]["attention"], "critics": bool(dreal["critics"]),
          "recipe": ", ".join(changed)}


def table(rows: list[dict]) -> str:
  """DREAL runs: each attention module without and with critics, same budget."""
  lines = ["| attention | critics | recipe | seeds | steps | test error | run on | wall (median) "
           "| runs |", "|---|---|---|---|---|---|---|---|---|"]
  dreal = sorted((r for r in rows if r["method"] == "dreal"),
                 key=lambda r: (r["attention"], r["num_steps"] or 0, r["dates"], r["critics"],
                                r.get("recipe", "")))
  for r in dreal:
    wall, runs = tables.wall_text(r), tables.run_links(r)
    critics = "yes" if r["critics"] else "no (vanilla)"
    recipe = (r.get("recipe") or "paper's") if r["critics"] else ""
    where = ", ".join([*r["dates"], *r["hardware"]])
    lines.append(f"| {r['attention'].upper()} | {critics} | {recipe} | {len(r['seeds'])} | "
                 f"{r['num_steps'] or ''} | {tables.error_text(r)} | {where} | {wall} | {runs} |")
  return "\n".join(lines)
