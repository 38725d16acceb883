"""DREAL's controlled arms at the `short` budget, side by side (issue 22, 2026-12-05).

Every arm is `configs/dreal_clutter.py:se,short` with 3 seeds in one compiled step
(--config.train.num_seeds=3), trained on the same machine, and changes one thing against the
paper's recipe (critics from step 0, a new block draw every step, clipped reward, scalar LSTM
critic, actor weight 1). Seed s of every arm starts from the same initial network and sees the
same batches, so the per-seed differences against the paper arm are paired.

  python results/dreal_investigation/arms/arms.py   # after the runs in ARMS have finished

Reads each seed's results/<workdir>_s<s>/run.json (collected by the report tool, which only
collects finished runs), writes arms.json and arms.png beside this file, and prints the
table. A missing run is an error, not a gap.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))

# (label, workdir under runs/, what the arm changes against the paper's recipe)
ARMS = [
    ("vanilla", "dreal_inv_se_short_vanilla", "no critics: cross-entropy alone"),
    ("paper", "dreal_inv_se_short_paper", "the paper's recipe"),
    ("warm-up 500", "dreal_clutter_se_short_delay500",
     "dreal.actor_delay_steps=500: no actor term for the first 500 of 1,000 steps"),
    ("actor weight 0.1", "dreal_inv_se_short_qw0.1", "dreal.q_weight=0.1"),
    ("tanh reward", "dreal_inv_se_short_tanh", "dreal.reward_transform=tanh"),
    ("critic hidden 16", "dreal_inv_se_short_hidden16",
     "dreal.critic_hidden=16 (not the paper's: a 16-unit LSTM critic)"),
    ("per-epoch draw", "dreal_inv_se_short_redraw390",
     "dreal.redraw_every_steps=390: one draw per epoch of 50,000 digits, the paper's wording"),
]
SEEDS = 3


def read(workdir: str) -> list[dict]:
  """The run records `python -m attn_rl.tools.report --collect=runs/<workdir>` wrote, one per
  seed (results/<workdir>_s<seed>/run.json), so the table needs no workdir."""
  out = []
  for s in range(SEEDS):
    path = os.path.join(ROOT, "results", f"{workdir}_s{s}", "run.json")
    if not os.path.exists(path):
      sys.exit(f"{path} is missing: train the arm (its command is in docs/"
               f"dreal_investigation.md), then python -m attn_rl.tools.report "
               f"--collect=runs/{workdir}.")
    with open(path) as f:
      out.append(json.load(f))
  return out


def main():
  runs = {label: read(workdir) for label, workdir, _ in ARMS}
  paper = np.array([r["test"]["error"] for r in runs["paper"]]) * 100
  vanilla = np.array([r["test"]["error"] for r in runs["vanilla"]]) * 100
  table = []
  for label, workdir, change in ARMS:
    rs = runs[label]
    test = np.array([r["test"]["error"] for r in rs]) * 100
    val = np.array([r["val_error_at_selected"] for r in rs]) * 100
    table.append({
        "arm": label, "change": change, "workdir": f"runs/{workdir}",
        "command": rs[0]["command"], "git_commit": rs[0]["git_commit"],
        "git_dirty": rs[0]["git_dirty"], "cpu_model": rs[0]["hardware"]["cpu_model"],
        "date": rs[0]["started"], "train_seconds": rs[0]["wall_seconds"],
        "test_error_pct": test.round(2).tolist(), "val_error_pct": val.round(2).tolist(),
        "selected_step": [r["selected_step"] for r in rs],
        "test_mean": float(test.mean()), "test_std": float(test.std(ddof=1)),
        "minus_paper_per_seed": (test - paper).round(2).tolist(),
        "minus_paper_mean": float((test - paper).mean()),
        "minus_vanilla_mean": float((test - vanilla).mean()),
    })
  with open(os.path.join(HERE, "arms.json"), "w") as f:
    json.dump({"note": __doc__.split("\n\n")[0], "seeds": SEEDS, "arms": table}, f, indent=1)
  print("| arm | test error per seed (%) | mean ± sd | minus paper (paired mean) | "
        "minus vanilla |")
  print("|---|---|---|---|---|")
  for t in table:
    print(f"| {t['arm']} | {' / '.join(f'{e:.2f}' for e in t['test_error_pct'])} | "
          f"{t['test_mean']:.2f} ± {t['test_std']:.2f} | {t['minus_paper_mean']:+.2f} | "
          f"{t['minus_vanilla_mean']:+.2f} |")

  import matplotlib  # Optional dependency: pip install '.[viz]'.
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(7.5, 3.6))
  for i, t in enumerate(table):
    errs = t["test_error_pct"]
    ax.scatter([i] * len(errs), errs, color="tab:blue", s=18, zorder=3)
    ax.errorbar(i + 0.15, t["test_mean"], yerr=t["test_std"], fmt="o", color="black",
                ms=4, capsize=3)
  ax.axhline(table[0]["test_mean"], color="tab:gray", ls="--", lw=0.8, label="vanilla mean")
  ax.set_xticks(range(len(table)), [t["arm"] for t in table], rotation=25, ha="right")
  ax.set_ylabel("test error (%)")
  ax.set_title("DREAL SE, 60x60 clutter, short budget: 3 seeds per arm (dots), mean ± sd",
               fontsize=9)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "arms.png"), dpi=120)


if __name__ == "__main__":
  main()
