"""Where does uniform noise hurt? Accuracy under uniform noise of radius eps (clipped to
[0, 1]) added everywhere, on the background only (pixels == 0) or on the digit only, for
trained workdirs. Wrote noise_probe.json beside this file (2026-12-05).

  python results/robustness/sweep_1205/noise_probe.py runs/topdown_mnist_s0 runs/ram_mnist_s0
"""
import json
import os
import sys

import jax
import jax.numpy as jnp

from attn_rl.core import loop
from attn_rl.core.evaluators.robustness import uniform_noise
from attn_rl.data import pipeline
from attn_rl.tools.robustness import Attacker

out = {}
for workdir in sys.argv[1:]:
  config, method, model, state, _ = loop.load_trained(workdir)
  images, labels = pipeline.eval_images(config.data, "test", 500)
  x = jnp.asarray(images, jnp.float32) / 255.0
  y = jnp.asarray(labels)
  rollouts = config.eval.get("num_rollouts", 1) if method.stochastic else 1
  attacker = Attacker(method.make_logits(config, model), method.inference_params(state),
                      rollouts, 250)
  key = jax.random.key(0)
  background = x == 0
  row = {}
  for eps in (0.01, 0.05):
    # The robustness tool's noise control, kept only where the mask says.
    noisy = uniform_noise(jax.random.key(1), x, eps)
    for where, mask in (("everywhere", True), ("background", background),
                        ("digit", ~background)):
      xn = jnp.where(mask, noisy, x)
      for det in (False, True):
        acc = float(attacker.correct(xn, y, key, deterministic=det).mean())
        row[f"eps{eps}_{where}_{'det' if det else 'sampled'}"] = acc
  row["clean_sampled"] = float(attacker.correct(x, y, key, deterministic=False).mean())
  out[os.path.basename(os.path.normpath(workdir))] = row
  print(workdir, json.dumps(row, indent=1), flush=True)
with open(os.path.join(os.path.dirname(__file__), "noise_probe.json"), "w") as f:
  json.dump(out, f, indent=1)
