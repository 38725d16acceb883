"""Can a DREAL critic learn its reward at all? Train fresh critics alone against a frozen network.

  python -m attn_rl.tools.probe_critics --workdir=runs/dreal_clutter_se_vanilla_short_s0 \
      --steps=2000 --every=100 --out=results/dreal_investigation/probe_se_vanilla_short

The workdir's validation-selected network (backbone, attention modules, BatchNorm averages) is
frozen; newly initialised critics (the paper's scalar-state LSTMs, `methods/dreal/critics.py`)
train on its training batches with the run's critic optimizer, on exactly the training step's
rewards and inputs (`analysis.make_critic_probe`). Every --every steps, and before the first,
the critics score every map of the first --num validation canvases (never the test split)
against the realised reward R_l of that map, as `analyze_dreal` computes it. Writes:
  probe.json   per evaluation: the mean training loss since the last one, Pearson's r of Q
               against R (per map, their mean, and pooled), the MSE and the share of R's
               variance that Q explains (1 - MSE / variance per map), all also on the
               correctly predicted images alone (`correct_only`: without the -gamma penalty
               of a wrong prediction); for a workdir trained with critics, the same for its
               own critics
  probe.png    r (mean per map; also on the correctly predicted images alone) and the
               explained share against probe steps
"""

from __future__ import annotations

import importlib.util
import json
import os

import jax
import numpy as np
from absl import app, flags

from attn_rl.core import loop, optim, provenance
from attn_rl.data import pipeline
from attn_rl.methods.dreal import analysis
from attn_rl.methods.dreal import steps as dreal_steps

_WORKDIR = flags.DEFINE_string("workdir", None, "A DREAL run's workdir (one seed's folder).",
                               required=True)
_STEPS = flags.DEFINE_integer("steps", 2000, "Critic training steps.")
_EVERY = flags.DEFINE_integer("every", 100, "Evaluate every this many steps.")
_NUM = flags.DEFINE_integer("num", 1024, "Validation canvases to evaluate on.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the critics' initialisation, the training "
                             "order and the drawn blocks.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/probe).")
_CRITIC_HIDDEN = flags.DEFINE_integer(
    "critic_hidden", None, "Units of the fresh critics' LSTM state (default: the run's "
    "dreal.critic_hidden, 1 for the paper's scalar state); more asks whether capacity is what "
    "the paper's critic lacks.")
_PLOT = flags.DEFINE_bool("plot", True, "Write probe.png (needs matplotlib: pip install "
                          "'.[viz]').")


def evaluate(q_and_reward, state, critic, batches, correct) -> dict:
  pairs = [jax.device_get(q_and_reward(state, x, y, critic)) for x, y in batches]
  q = np.concatenate([p[0] for p in pairs], axis=1)
  r = np.concatenate([p[1] for p in pairs], axis=1)
  return analysis.prediction_stats(q, r, correct)


def plot(path: str, curve: list[dict], title: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  steps = [c["step"] for c in curve]
  fig, ax = plt.subplots(figsize=(5, 3.4))
  ax.plot(steps, [c["pearson_r_mean_per_map"] for c in curve], label="Pearson r (mean per map)")
  ax.plot(steps, [c["explained"] for c in curve], label="share of R's variance explained")
  if all("correct_only" in c for c in curve):
    ax.plot(steps, [c["correct_only"]["pearson_r_mean_per_map"] for c in curve], ls="--",
            label="Pearson r, correctly predicted images only")
  ax.axhline(0, color="k", lw=0.5)
  ax.set(xlabel="critic-only training steps", ylim=(-0.3, 1), title=title)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  del argv
  if _STEPS.value < 1 or _EVERY.value < 1:
    raise app.UsageError(f"--steps={_STEPS.value} and --every={_EVERY.value} must be >= 1.")
  if _PLOT.value and importlib.util.find_spec("matplotlib") is None:
    raise app.UsageError("--plot needs matplotlib: pip install '.[viz]', or pass --plot=false.")
  if _CRITIC_HIDDEN.value is not None and _CRITIC_HIDDEN.value < 1:
    raise app.UsageError(f"--critic_hidden={_CRITIC_HIDDEN.value} must be >= 1.")
  config, method, model, state, meta = loop.load_trained(_WORKDIR.value)
  if method.name != "dreal":
    raise ValueError(f"--workdir={_WORKDIR.value} is a {method.name!r} run: the probe needs a "
                     "DREAL run (method='dreal').")
  # The fresh critics' config: the run's, with the probe's state width.
  probe_dreal = config.dreal.copy_and_resolve_references()
  with probe_dreal.unlocked():
    if _CRITIC_HIDDEN.value is not None:
      probe_dreal.critic_hidden = _CRITIC_HIDDEN.value
  batches = analysis.validation_batches(config, _NUM.value)
  if not batches:
    raise ValueError(f"--num={_NUM.value} is smaller than one batch of "
                     f"{config.train.batch_size}.")
  out_dir = _OUT.value or os.path.join(_WORKDIR.value, "probe")
  os.makedirs(out_dir, exist_ok=True)
  key = jax.random.key(_SEED.value)
  init_key, step_key = jax.random.split(key)
  critic = dreal_steps.init_variables(model, init_key, pipeline.image_shape(config.data),
                                      probe_dreal.critic_hidden)["critic"]
  tx = optim.make_optimizer(config.optim.critic, _STEPS.value)
  opt_state = tx.init(critic)
  step = analysis.make_critic_probe(model, probe_dreal, tx)
  train, _ = pipeline.make_batches(config.data, "train", seed=_SEED.value,
                                   global_batch=config.train.batch_size)
  q_and_reward = analysis.make_q_and_reward(model, probe_dreal)
  is_correct = analysis.make_correct(model)
  correct = np.concatenate([jax.device_get(is_correct(state, x, y)) for x, y in batches])
  curve = [{"step": 0, "train_loss": None,
            **evaluate(q_and_reward, state, critic, batches, correct)}]
  losses = []
  for i in range(1, _STEPS.value + 1):
    batch = train(i - 1)
    critic, opt_state, loss = step(critic, opt_state, state, batch["image"], batch["label"],
                                   jax.random.fold_in(step_key, i))
    losses.append(loss)
    if i % _EVERY.value == 0 or i == _STEPS.value:
      row = {"step": i, "train_loss": float(np.mean(jax.device_get(losses))),
             **evaluate(q_and_reward, state, critic, batches, correct)}
      losses = []
      curve.append(row)
      print(json.dumps({k: row[k] for k in ("step", "train_loss", "pearson_r_mean_per_map",
                                             "explained")} | {
          "correct_only_r": row["correct_only"]["pearson_r_mean_per_map"],
          "correct_only_explained": row["correct_only"]["explained"]}), flush=True)
  result = {
      **provenance.provenance(), "workdir": _WORKDIR.value, "network_step": int(meta["step"]),
      "network_trained_with_critics": bool(config.dreal.critics),
      "attention": config.model.attention, "substitute": config.dreal.substitute,
      "reward_transform": config.dreal.reward_transform,
      "critic_hidden": probe_dreal.critic_hidden, "num_images": len(batches) * len(
          batches[0][1]), "split": "validation", "probe_steps": _STEPS.value,
      "seed": _SEED.value, "curve": curve,
  }
  if config.dreal.critics:
    own = analysis.make_q_and_reward(model, config.dreal)
    result["own_critics"] = evaluate(own, state, None, batches, correct)
  with open(os.path.join(out_dir, "probe.json"), "w") as f:
    json.dump(result, f, indent=1)
  if _PLOT.value:
    plot(os.path.join(out_dir, "probe.png"), curve,
         f"{config.model.attention.upper()} critics alone (state {probe_dreal.critic_hidden}), "
         f"frozen network (step {int(meta['step'])})")
  print("wrote", os.path.join(out_dir, "probe.json"))


if __name__ == "__main__":
  app.run(main)
