"""The training step with the conv glimpse network's 2x2 max-pool as `networks.max_pool_2x2`
against flax's `nn.max_pool` (`reduce_window`, whose backward is XLA's select-and-scatter).

  taskset -c 0 python benchmarks/maxpool_step.py --out=benchmarks/maxpool_step_one_core_cpu.json

Both poolings give the same values and gradients (tests/glimpse_test.py, `MaxPoolTest`). For
each --config this compiles the step twice in one process, once as the code stands and
once with flax's pooling traced in its place, then times --repeats runs of --steps steps of
each, alternated, at batch 128 on synthetic canvases (the step's work does not depend on the
pixels). Writes the median images/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import sys

import flax.linen as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from attn_rl.core import provenance  # noqa: E402
from attn_rl.glimpse import networks  # noqa: E402
from attn_rl.tools import bench_seeds  # noqa: E402


def load(spec: str):
  module, _, variant = spec.partition(":")
  c = importlib.import_module(f"configs.{module}").get_config(variant or None)
  with c.unlocked():
    c.data.source = "synthetic"
    c.train.batch_size = 128
  return c


def flax_pool(x):
  return nn.max_pool(x, (2, 2), strides=(2, 2))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", action="append", help="module:variant, repeatable (default: "
                      "the 6-glimpse 100x100 RAM and top-down arms, the 60x60 full model)")
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  specs = args.config or ["topdown_clutter100:ram,glimpses6",
                          "topdown_clutter100:topdown,glimpses6", "topdown_clutter:full"]
  rows = []
  for spec in specs:
    config = load(spec)
    steps = {"max_pool_2x2": bench_seeds.SeedsStep(config)}
    ours = networks.max_pool_2x2
    networks.max_pool_2x2 = flax_pool  # Traced (compiled) in SeedsStep's constructor.
    try:
      steps["nn.max_pool"] = bench_seeds.SeedsStep(config)
    finally:
      networks.max_pool_2x2 = ours
    for _ in range(args.repeats):
      for step in steps.values():
        step.run(args.steps)
    median = {name: statistics.median(s.rates) for name, s in steps.items()}
    rows.append({"config": spec, "images_per_sec": {n: s.rates for n, s in steps.items()},
                 "median_images_per_sec": median,
                 "speedup_median": median["max_pool_2x2"] / median["nn.max_pool"]})
    print(json.dumps(rows[-1]), flush=True)
  result = {**provenance.provenance(), "steps": args.steps, "repeats": args.repeats,
            "batch_size": 128, "cpu_affinity": len(os.sched_getaffinity(0)), "rows": rows}
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
