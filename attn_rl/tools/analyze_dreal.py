"""What DREAL's critics do to the attention: channel-gate distributions and critic Q vs reward.

  python -m attn_rl.tools.analyze_dreal --vanilla=runs/dreal_clutter_se_vanilla_s0 \
      --reinforced=runs/dreal_clutter_se_s0 --out=results/dreal_analysis/se

Both workdirs are restored at their validation-selected checkpoints and run on the first
--num validation canvases (never the test split). Writes:
  gates.png      per block, the distribution over images of each channel's gate (median and
                 10-90% band; channels sorted by the vanilla network's median): the paper's
                 Fig. 2, before (vanilla) and after (reinforced) DREAL
  q_vs_reward.png  the reinforced run's critic Q_l against the realised reward R_l of every
                 map (all blocks, not one drawn per stage), computed as in training: BatchNorm
                 in training mode on batches of train.batch_size, R_l clipped or squashed as
                 its config says
  analysis.json  the numbers behind both plots: per block the spread of the channel gates,
                 and Pearson's r, mean |Q - R| and the means of Q and R per block
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, flags

from attn_rl.core import loop, provenance
from attn_rl.methods.dreal import analysis

_VANILLA = flags.DEFINE_string("vanilla", None, "Workdir of the network without critics.")
_REINFORCED = flags.DEFINE_string("reinforced", None, "Workdir of the network with critics.",
                                  required=True)
_NUM = flags.DEFINE_integer("num", 1024, "Validation canvases to analyse.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <reinforced>/analysis).")


def plot_gates(path: str, gates: dict[str, list[np.ndarray]], title: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  names = list(gates)
  blocks = len(gates[names[0]])
  cols = min(blocks, 3)
  rows = -(-blocks // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
  for b in range(blocks):
    ax = axes[b // cols][b % cols]
    order = np.argsort(np.median(gates[names[0]][b], axis=0))
    for name in names:
      g = gates[name][b][:, order]
      x = np.arange(g.shape[1])
      line, = ax.plot(x, np.median(g, axis=0), lw=1, label=name)
      ax.fill_between(x, *np.percentile(g, [10, 90], axis=0), alpha=0.25,
                      color=line.get_color(), lw=0)
    ax.set(title=f"block {b}", xlabel=f"channel (sorted by {names[0]} median)", ylabel="gate",
           ylim=(0, 1))
  for b in range(blocks, rows * cols):
    axes[b // cols][b % cols].axis("off")
  axes[0][0].legend(fontsize=7)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_q_reward(path: str, q: np.ndarray, r: np.ndarray, maps_per_block: int,
                  title: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(4.6, 4.2))
  for i in range(q.shape[0]):
    ax.scatter(r[i], q[i], s=3, alpha=0.35, label=f"block {i // maps_per_block}"
               + (f" map {i % maps_per_block}" if maps_per_block > 1 else ""))
  ax.plot([-1, 1], [-1, 1], color="k", lw=0.6, ls="--")
  ax.set(xlabel="realised reward R_l", ylabel="critic Q_l", xlim=(-1.05, 1.05),
         ylim=(-1.05, 1.05), title=title)
  ax.legend(fontsize=6, markerscale=3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  del argv
  reinforced = loop.load_trained(_REINFORCED.value)
  config, _, model, state, meta = reinforced
  if not config.dreal.critics:
    raise ValueError(f"--reinforced={_REINFORCED.value} was trained without critics "
                     "(dreal.critics=False): pass a run of a config without 'vanilla'.")
  out_dir = _OUT.value or os.path.join(_REINFORCED.value, "analysis")
  os.makedirs(out_dir, exist_ok=True)
  batches = analysis.validation_batches(config, _NUM.value)
  if not batches:
    raise ValueError(f"--num={_NUM.value} is smaller than one batch of "
                     f"{config.train.batch_size}.")
  gates = {}
  runs = {"reinforced": {"workdir": _REINFORCED.value, "step": int(meta["step"])}}
  if _VANILLA.value:
    v_config, _, v_model, v_state, v_meta = loop.load_trained(_VANILLA.value)
    if v_config.model.attention != config.model.attention:
      raise ValueError(f"--vanilla uses {v_config.model.attention!r} attention and --reinforced "
                       f"{config.model.attention!r}: compare runs of one attention module.")
    gates["vanilla"] = analysis.channel_gates(v_model, v_state, batches)
    runs["vanilla"] = {"workdir": _VANILLA.value, "step": int(v_meta["step"])}
  gates["DREAL"] = analysis.channel_gates(model, state, batches)
  q_and_reward = analysis.make_q_and_reward(model, config.dreal)
  pairs = [jax.device_get(q_and_reward(state, x, y)) for x, y in batches]
  q = np.concatenate([p[0] for p in pairs], axis=1)
  r = np.concatenate([p[1] for p in pairs], axis=1)
  m = model.maps_per_block
  attention = config.model.attention.upper()
  plot_gates(os.path.join(out_dir, "gates.png"), gates,
             f"{attention}: channel gates on {q.shape[1]} validation canvases")
  plot_q_reward(os.path.join(out_dir, "q_vs_reward.png"), q, r, m,
                f"{attention} critics, step {int(meta['step'])}")
  result = {
      **provenance.provenance(), "attention": config.model.attention,
      "num_images": int(q.shape[1]),
      "split": "validation", "runs": runs,
      "gates": {name: analysis.gate_stats(g) for name, g in gates.items()},
      "q_vs_reward": analysis.q_reward_stats(q, r, m),
      "pearson_r_all": float(np.corrcoef(q.ravel(), r.ravel())[0, 1]),
  }
  with open(os.path.join(out_dir, "analysis.json"), "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps({k: result[k] for k in ("attention", "num_images", "pearson_r_all")}))


if __name__ == "__main__":
  app.run(main)
