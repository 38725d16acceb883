"""Is the top-down model's noise fragility the glimpse LayerNorm's epsilon? (2026-12-05)

A trained top-down workdir is probed twice, with its trained parameters unchanged:
1. Mechanism. The first conv block's output before its LayerNorm, for blank glimpses and for
   blank glimpses plus uniform noise of radius r (clipped to [0, 1], as the robustness tool's
   control): its variance over the glimpse (what the LayerNorm divides by) and how far the
   normalised output moves, beside the same numbers for glimpses with content.
2. Counterfactual. The same parameters evaluated with larger LayerNorm epsilons
   (model.glimpse_norm_epsilon): clean accuracy, uniform noise everywhere and on the
   background only, and (for two of them) PGD with EOT (40 steps of 0.01, 8 draws), each on
   the same 500 test images, keys and noise; accuracy under the sampled policy, M rollouts.
If the epsilon is the cause, a larger one restores accuracy under background noise while
clean accuracy stays.

  python results/robustness/norm_probe/norm_probe.py runs/topdown_mnist_s0
  python results/robustness/norm_probe/norm_probe.py --norm_eps=0.01 --no_pgd \
      runs/topdown_mnist_norm1e-2_s0   # a network trained at 1e-2: its own epsilon, no PGD
Writes norm_probe.json beside this file (one entry per workdir, merged with earlier ones).
"""
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from attn_rl.core import loop
from attn_rl.core.evaluators.robustness import uniform_noise
from attn_rl.data import pipeline
from attn_rl.glimpse import networks
from attn_rl.tools.robustness import Attacker

NUM = 500
RADII = (0.01, 0.05)
NORM_EPSILONS = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1)
PGD_EPS = (0.05, 0.1)
# PGD with EOT is the slow part (about 10 min per epsilon pair on one shared core): only the
# trained epsilon and one larger one, chosen before looking (1e-2 is about 200x a blank
# glimpse's pre-norm variance and 1/15 of a digit glimpse's on topdown_mnist_s0).
PGD_NORM_EPSILONS = (1e-6, 1e-2)


def first_block(config, params, glimpses):
  """conv0's output [N, g, g, C] and norm0's output, through the trained glimpse network."""
  net = networks.make_networks(config.model, 10, "conv")["glimpse"]
  locations = jnp.zeros((glimpses.shape[0], 2))
  _, state = net.apply({"params": params["glimpse"]}, glimpses, locations,
                       capture_intermediates=True, mutable=["intermediates"])
  inter = state["intermediates"]
  return inter["conv0"]["__call__"][0], inter["norm0"]["__call__"][0]


def mechanism(config, params, x):
  """Pre-norm variance and normalised-output shift, blank and content glimpses."""
  k, g = config.model.num_scales, config.model.glimpse_size
  n = 256
  blank = jnp.zeros((n, k, g, g, 1))
  # Content: the g x g crop at each image's centre of ink (the digit on MNIST), every scale
  # alike.
  imgs = np.asarray(x[:n])
  h = imgs.shape[1]
  grid = np.arange(h)
  crops = []
  for img in imgs:
    mass = img.sum() + 1e-9
    cy, cx = (int(round((img.sum(1) * grid).sum() / mass)),
              int(round((img.sum(0) * grid).sum() / mass)))
    top, left = (min(max(c - g // 2, 0), h - g) for c in (cy, cx))
    crops.append(img[top:top + g, left:left + g])
  content = jnp.repeat(jnp.asarray(np.stack(crops))[:, None, :, :, None], k, axis=1)
  out = {}
  for name, base in (("blank", blank), ("content", content)):
    pre, post = first_block(config, params, base)
    row = {"pre_norm_variance_median": float(jnp.median(pre.var(axis=(1, 2, 3))))}
    for r in RADII:
      noisy = uniform_noise(jax.random.key(7), base, r)
      pre_n, post_n = first_block(config, params, noisy)
      shift = jnp.sqrt(((post_n - post) ** 2).mean(axis=(1, 2, 3)))
      row[f"r{r}_pre_norm_variance_median"] = float(jnp.median(pre_n.var(axis=(1, 2, 3))))
      row[f"r{r}_input_rms_change_median"] = float(jnp.median(
          jnp.sqrt(((noisy - base) ** 2).mean(axis=(1, 2, 3, 4)))))
      row[f"r{r}_normalised_rms_shift_median"] = float(jnp.median(shift))
    out[name] = row
  return out


def counterfactual(config, method, state, x, y, norm_epsilons=NORM_EPSILONS, pgd=True):
  params = method.inference_params(state)
  rollouts = config.eval.get("num_rollouts", 1)
  background = x == 0
  rows = {}
  for e in norm_epsilons:
    with config.unlocked():
      config.model.glimpse_norm_epsilon = e
    model = method.make_model(config, pipeline.num_classes(config.data))
    attacker = Attacker(method.make_logits(config, model), params, rollouts, 250)
    key = jax.random.key(0)
    row = {"clean": float(attacker.correct(x, y, key, deterministic=False).mean())}
    for r in RADII:
      noisy = uniform_noise(jax.random.key(1), x, r)
      row[f"noise{r}"] = float(attacker.correct(noisy, y, key, deterministic=False).mean())
      row[f"noise{r}_background"] = float(attacker.correct(
          jnp.where(background, noisy, x), y, key, deterministic=False).mean())
    for eps in PGD_EPS if pgd and e in PGD_NORM_EPSILONS else ():
      attack_key = jax.random.key(2)
      adv = lambda i, xb, yb, k=attack_key, ep=eps, a=attacker: a.pgd(
          i, xb, yb, k, ep, 0.01, deterministic=False, num_steps=40, eot=8, norm="linf",
          loss="ce")
      row[f"pgd_eot{eps}"] = float(attacker.correct(x, y, key, deterministic=False,
                                                    make_adv=adv).mean())
    rows[f"{e:g}"] = row
    print(f"  norm epsilon {e:g}: {json.dumps(row)}", flush=True)
  return rows


def main(args):
  norm_epsilons = NORM_EPSILONS
  if args and args[0].startswith("--norm_eps="):
    norm_epsilons = tuple(float(v) for v in args[0].split("=", 1)[1].split(","))
    args = args[1:]
  pgd = "--no_pgd" not in args
  workdirs = [a for a in args if a != "--no_pgd"]
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "norm_probe.json")
  out = json.load(open(path)) if os.path.exists(path) else {}
  for workdir in workdirs:
    start = time.time()
    config, method, _, state, _ = loop.load_trained(workdir)
    trained_eps = config.model.glimpse_norm_epsilon
    images, labels = pipeline.eval_images(config.data, "test", NUM)
    x = jnp.asarray(images, jnp.float32) / 255.0
    y = jnp.asarray(labels)
    entry = {"workdir": workdir, "trained_norm_epsilon": trained_eps, "num": NUM,
             "mechanism": mechanism(config, method.inference_params(state), x)}
    print(workdir, json.dumps(entry["mechanism"], indent=1), flush=True)
    entry["counterfactual"] = counterfactual(config, method, state, x, y, norm_epsilons, pgd)
    entry["seconds"] = round(time.time() - start, 1)
    entry["date"] = time.strftime("%Y-%m-%d")
    entry["devices"] = str(jax.devices())
    out[os.path.basename(os.path.normpath(workdir))] = entry
    with open(path, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main(sys.argv[1:])
