"""The video method's rows of the report: video error (one label) or video mAP (label sets) of
each arm, beside the REINFORCE paper's Table 1 numbers, which are on other data.

  The paper, Table 1 (HMDB-51 accuracy / ActivityNet mAP): soft attention 41.30 / 58.90,
  hard attention limited to N = 5 glimpses 50.06 / 65.60, unlimited 60.60 / 69.13.
Moving MNIST is our offline task: no paper ran it, so its rows carry the paper's number of
the matching arm as "HMDB-51 acc" (one label) or "ActivityNet mAP" (label sets), for
orientation only.
"""

from __future__ import annotations

import os

from attn_rl.core import tables

# The table is long: it lives on the method's docs page, not the README.
PAGE = "docs/video.md"
MARKERS = ("<!-- video-table:begin -->", "<!-- video-table:end -->")

# arm -> (HMDB-51 accuracy %, ActivityNet mAP %).
PAPER = {"soft": (41.30, 58.90), "hard": (50.06, 65.60), "unlimited": (60.60, 69.13)}
ARM_NAMES = {"mean": "no attention (mean slice)", "soft": "soft attention",
             "hard": "hard, 5 glimpses", "unlimited": "hard, unlimited"}
_ORDER = ("mean", "soft", "hard", "unlimited")


def arm(values: dict) -> str:
  m = values["model"]
  if m["attention"] != "hard":
    return m["attention"]
  return "hard" if m["glimpses"] else "unlimited"


def fields(values: dict) -> dict:
  d, m = values["data"], values["model"]
  name = arm(values)
  if d["layout"] == "kracwarlock" and d.get("num_classes") == 51:
    task = "hmdb51"
  else:
    task = os.path.basename(str(d.get("root", "")).rstrip("/")) or d["layout"]
  paper = PAPER.get(name)
  if paper:
    paper = (f"HMDB-51 acc {paper[0]:.2f}" if not d["multilabel"]
             else f"ActivityNet mAP {paper[1]:.2f}")
  scorer = "" if name == "mean" else m["policy_input"]
  penalty = values.get("rl", {}).get("penalty", 1.0)
  # The marked variant whose core also reads where it attended (model.where).
  where = m.get("where", "")
  # The diagnostic control whose slices carry their change since the last frame.
  motion = bool(m.get("motion", False))
  return {"dataset": task, "arm": name, "scorer": scorer, "multilabel": d["multilabel"],
          "penalty": penalty, "where": where, "motion": motion,
          "paper_text": "" if where or motion else paper or ""}


def table(rows: list[dict]) -> str:
  """Per task and arm: the selection metric on test (video error or video mAP) over seeds."""
  lines = ["| task | arm | scorer | seeds | steps | video error / mAP | per clip | "
           "deterministic | M=1 | slices read / frame | paper (other data) | wall (median) "
           "| runs |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
  ours = sorted((r for r in rows if r["method"] == "video"),
                key=lambda r: (r["dataset"], _ORDER.index(r["arm"]), r["scorer"],
                               -r.get("penalty", 1.0), r.get("where", ""),
                               r.get("motion", False), r["num_steps"] or 0))
  for r in ours:
    key = "map" if r["multilabel"] else "error"
    main = tables.error_text(r, key) + (" mAP" if r["multilabel"] else "")
    det = r.get(f"test_{key}_det_mean")
    m1 = r.get(f"test_{key}_m1_mean")
    reads = r.get("test_reads_mean")
    # The penalty's lambda where a run departs from the default 1.
    penalty = "" if r.get("penalty", 1.0) == 1.0 else f", λ = {r['penalty']:g}"
    # The marked variant and the diagnostic control.
    marks = f", + where ({r['where']}; ours)" if r.get("where") else ""
    marks += ", + motion features (control)" if r.get("motion") else ""
    lines.append(
        f"| {r['dataset']} | {ARM_NAMES[r['arm']]}{penalty}{marks} | {r['scorer']} | "
        f"{len(r['seeds'])} | "
        f"{r['num_steps']} | {main} | {tables.percent(r.get(f'test_{key}_clip_mean'))} | "
        f"{tables.percent(det)} | {tables.percent(m1)} | "
        f"{'' if reads is None else f'{reads:.1f}'} | {r['paper_text']} | "
        f"{tables.wall_text(r)} | {tables.run_links(r, short=True)} |")
  return "\n".join(lines)
