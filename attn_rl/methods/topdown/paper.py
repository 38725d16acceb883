"""The top-down method's rows of the report: Chen et al. 2021's ablation and its table."""

from __future__ import annotations

from attn_rl.core import tables

MARKERS = ("<!-- ablation-table:begin -->", "<!-- ablation-table:end -->")

# Top-down ablation arm (top-down, entropy, context switched on) -> its name, in the paper's
# order.
ARMS = {
    (False, False, False): "RAM (conv glimpse network)",
    (True, False, False): "+ top-down",
    (True, True, False): "+ top-down + entropy",
    (True, True, True): "+ top-down + entropy + context (full)",
}
# (arm, glimpses) -> the paper's test error in %: Chen et al. 2021, 100x100 cluttered MNIST.
ABLATION_PAPER = {
    (ARMS[False, False, False], 6): 29.8, (ARMS[True, False, False], 6): 26.3,
    (ARMS[True, True, False], 6): 23.6, (ARMS[True, True, True], 6): 20.3,
    (ARMS[False, False, False], 8): 24.7, (ARMS[True, True, True], 8): 17.3,
}

def fields(values: dict) -> dict:
  """A top-down run's arm and glimpse count, read from its config (not from its name)."""
  pieces = (values["topdown"]["enabled"], values["bottomup"]["entropy"],
            values["bottomup"]["context"])
  arm = ARMS.get(tuple(map(bool, pieces)), "other (top-down, entropy, context = {}, {}, {})"
                 .format(*pieces))
  glimpses = values["model"]["num_glimpses"]
  return {"arm": arm, "glimpses": glimpses, "paper_error": ABLATION_PAPER.get((arm, glimpses))}


def table(rows: list[dict]) -> str:
  """The top-down ablation: one row per (glimpses, arm), plus our RAM on 100x100 for scale."""
  lines = ["| glimpses | arm | seeds | steps | test error | M=1 | context head Z | paper | "
           "wall (median) | runs |", "|---|---|---|---|---|---|---|---|---|---|"]
  order = list(ARMS.values())
  ablation = sorted((r for r in rows if r["method"] == "topdown" and "arm" in r),
                    key=lambda r: (r["glimpses"], order.index(r["arm"]) if r["arm"] in order
                                   else len(order)))
  for r in ablation + [r for r in rows if r["config"] == "ram_clutter100"]:
    arm, paper = r.get("arm"), r["paper_error"]
    if arm is None:
      # Chen et al. did not run this model: their "paper" column does not apply.
      arm, paper = (f"our RAM from the RAM table (`configs/{r['config']}.py`, MLP glimpse "
                    f"network; Mnih et al.: {r['paper_error']:.2f}%)"), None
    glimpses = r.get("glimpses", 8)
    wall, runs = tables.wall_text(r), tables.run_links(r)
    m1, context = tables.percent(r["test_error_m1_mean"]), tables.percent(
        r.get("test_error_context_mean"))
    lines.append(f"| {glimpses} | {arm} | {len(r['seeds'])} | {r['num_steps'] or ''} | "
                 f"{tables.error_text(r)} (M={r['eval_rollouts']}) | {m1} | {context} | "
                 f"{tables.percent(paper)} | {wall} | {runs} |")
  return "\n".join(lines)
