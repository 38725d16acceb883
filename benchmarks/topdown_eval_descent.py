"""The top-down evaluation step, its greedy descent once per image against once per rollout.

  python benchmarks/topdown_eval_descent.py --out=benchmarks/topdown_eval_descent_cpu.json

Until 2026-12-07 `make_eval_step` repeated each image M times (`eval.num_rollouts`) and ran
the top-down agent's greedy descent, the Q-network's convolution included, on every copy; the
choice is greedy, so the M copies chose the same window. Now the descent runs once per image
and its window serves the image's M rollouts; `make_eval_step(..., descent_per_rollout=True)`
keeps the per-rollout definition, and tests/topdown_test.py checks that both give the same
sums. This times both in one process, compiled first, then --repeats timed runs of --batches
evaluation batches, alternated, at the config's evaluation batch and rollouts, on synthetic
canvases (the step's work does not depend on the pixels).
Writes the median images/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from attn_rl.core import method as method_lib  # noqa: E402
from attn_rl.data import pipeline  # noqa: E402
from attn_rl.methods.topdown import steps as td_steps  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="topdown_clutter100:full,glimpses8,mlp,clutter10")
  parser.add_argument("--batches", type=int, default=3)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  module, _, variant = args.config.partition(":")
  config = importlib.import_module(f"configs.{module}").get_config(variant or None)
  method = method_lib.get(config.method)
  model = method.make_model(config, pipeline.num_classes(config.data))
  shape = pipeline.image_shape(config.data)
  state = jax.jit(lambda k: method.init_state(config, model, k, shape))(jax.random.key(0))
  n = config.eval.batch_size
  rng = np.random.default_rng(0)
  batches = [{"image": jnp.asarray(rng.integers(0, 256, (n, *shape)), jnp.uint8),
              "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32),
              "mask": jnp.ones(n), "index": jnp.arange(n) + i * n}
             for i in range(args.batches)]
  steps = {"per_rollout": jax.jit(td_steps.make_eval_step(config, model,
                                                          descent_per_rollout=True)),
           "per_image": jax.jit(td_steps.make_eval_step(config, model))}
  key = jax.random.key(1)
  for step in steps.values():  # Compile and warm up.
    jax.block_until_ready(step(state, batches[0], key))
  rates = {name: [] for name in steps}
  for _ in range(args.repeats):
    for name, step in steps.items():
      t = time.perf_counter()
      for b in batches:
        out = step(state, b, key)
      jax.block_until_ready(out)
      rates[name].append(n * args.batches / (time.perf_counter() - t))
  median = {name: statistics.median(r) for name, r in rates.items()}
  result = {
      "config": args.config, "eval_batch": n, "num_rollouts": config.eval.num_rollouts,
      "batches": args.batches, "repeats": args.repeats, "images_per_sec": rates,
      "median_images_per_sec": median,
      "speedup_median": median["per_image"] / median["per_rollout"],
      "date": time.strftime("%Y-%m-%d %H:%M:%S"), "jax": jax.__version__,
      "backend": jax.default_backend(), "devices": len(jax.devices()),
      "cpu_affinity": len(os.sched_getaffinity(0)), "machine": platform.platform(),
      "command": "python benchmarks/topdown_eval_descent.py " + " ".join(sys.argv[1:]),
  }
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps({k: result[k] for k in ("median_images_per_sec", "speedup_median")}))


if __name__ == "__main__":
  main()
