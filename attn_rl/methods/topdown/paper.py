"""The top-down method's rows of the report: Chen et al. 2021's Tables 1 and 2 (28x28 MNIST
and the 100x100 ablation) beside our runs."""

from __future__ import annotations

from attn_rl.core import tables

# The table is long: it lives on docs/results.md with its conditions, not the README.
PAGE = "docs/results.md"
MARKERS = ("<!-- ablation-table:begin -->", "<!-- ablation-table:end -->")

# The three pieces (top-down start, entropy-weighted REINFORCE, context classifier).
PIECES = ("top-down", "entropy", "context")
# Every arm, in the papers' order: RAM, Table 1's constraints without top-down, Table 2's.
ARM_ORDER = ((False, False, False), (False, True, False), (False, True, True),
             (False, False, True), (True, False, False), (True, True, False), (True, False, True),
             (True, True, True))


def arm_name(pieces: tuple[bool, bool, bool]) -> str:
  """'RAM' with no piece on, else the pieces on ('+ entropy + context'); all three: '(full)'."""
  on = [name for name, p in zip(PIECES, pieces, strict=True) if p]
  if not on:
    return "RAM"
  return "+ " + " + ".join(on) + (" (full)" if len(on) == len(PIECES) else "")


# (canvas side, arm, glimpses) -> the paper's test error in %, Chen et al. 2021: Table 1
# (28x28 MNIST, 6 glimpses of 8x8; its RAM row is Mnih et al.'s) and Table 2 (100x100
# cluttered, 10 pieces, 12x12 at 4 scales).
PAPER = {
    (28, "RAM", 6): 1.12, (28, "+ entropy", 6): 1.05, (28, "+ entropy + context", 6): 1.01,
    (100, "RAM", 6): 29.8, (100, "+ top-down", 6): 26.3, (100, "+ top-down + entropy", 6): 23.6,
    (100, "+ top-down + entropy + context (full)", 6): 20.3,
    (100, "RAM", 8): 24.7, (100, "+ top-down", 8): 20.7,
    (100, "+ top-down + entropy + context (full)", 8): 17.3,
}


def task_name(data: dict) -> str:
  """'28x28 MNIST', '100x100 cluttered (8 pieces)', ... from a run's data config."""
  side = data["canvas_size"]
  if data["task"] == "cluttered":
    return f"{side}x{side} cluttered ({data['num_clutter']} pieces)"
  return f"{side}x{side} " + ("MNIST" if data["task"] == "plain" else data["task"])


def fields(values: dict) -> dict:
  """A top-down run's task, glimpse network, arm and glimpse count, from its config (not from
  its name). Runs recorded before model.glimpse_net existed had the conv network."""
  pieces = tuple(map(bool, (values["topdown"]["enabled"], values["bottomup"]["entropy"],
                            values["bottomup"]["context"])))
  arm, glimpses = arm_name(pieces), values["model"]["num_glimpses"]
  side = values["data"]["canvas_size"]
  return {"arm": arm, "arm_index": ARM_ORDER.index(pieces), "glimpses": glimpses,
          "task_text": task_name(values["data"]), "canvas": side,
          "glimpse_net": values["model"].get("glimpse_net", "conv"),
          "paper_error": PAPER.get((side, arm, glimpses))}


# Our RAM rows from the RAM table, shown beside the arms for scale: config -> (canvas side,
# task, glimpses), as those configs set them.
RAM_CONFIGS = {"ram_mnist": (28, "28x28 MNIST", 6),
               "ram_clutter": (60, "60x60 cluttered (4 pieces)", 8),
               "ram_clutter100": (100, "100x100 cluttered (8 pieces)", 8)}
NETWORKS = {"conv": "conv", "mlp": "fully connected"}


def table(rows: list[dict]) -> str:
  """Chen et al.'s Tables 1 and 2: one row per (task, glimpses, glimpse network, arm), each
  task followed by our RAM from the RAM table for scale."""
  lines = ["| task | glimpses | glimpse network | arm | seeds | steps | test error | M=1 | "
           "context head Z | paper | wall (median) | runs |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  arms = [r for r in rows if r["method"] == "topdown" and "arm" in r]
  ours = [r for r in rows if r["config"] in RAM_CONFIGS]
  key = lambda r: (r.get("canvas") or RAM_CONFIGS[r["config"]][0], r["config"] in RAM_CONFIGS,
                   r.get("task_text", ""), r.get("glimpses", 0), r.get("glimpse_net", ""),
                   r.get("arm_index", 0), r["config"])
  for r in sorted(arms + ours, key=key):
    if r["config"] in RAM_CONFIGS:
      # Chen et al. did not run this model: their "paper" column does not apply.
      _, task, glimpses = RAM_CONFIGS[r["config"]]
      network = "fully connected"
      arm = (f"our RAM from the RAM table (`configs/{r['config']}.py`; Mnih et al.: "
             f"{r['paper_error']:.2f}%)")
      paper = None
    else:
      task, glimpses, network = r["task_text"], r["glimpses"], NETWORKS[r["glimpse_net"]]
      arm, paper = r["arm"], r["paper_error"]
    wall, runs = tables.wall_text(r), tables.run_links(r)
    m1, context = tables.percent(r["test_error_m1_mean"]), tables.percent(
        r.get("test_error_context_mean"))
    lines.append(f"| {task} | {glimpses} | {network} | {arm} | {len(r['seeds'])} | "
                 f"{r['num_steps'] or ''} | {tables.error_text(r)} (M={r['eval_rollouts']}) | "
                 f"{m1} | {context} | {tables.percent(paper)} | {wall} | {runs} |")
  return "\n".join(lines)
