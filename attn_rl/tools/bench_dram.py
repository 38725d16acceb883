"""DRAM against the CNN: train-step throughput and forward FLOPs per image; writes JSON.

  python -m attn_rl.tools.bench_dram --out=benchmarks/dram_cpu.json

For each arm of a sequence config (default: configs/dram_multidigit.py at the `cpu` widths,
one seed): the median over `repeats` timed runs of `steps` jitted train steps, the arms
alternating so that background load hits all alike; FLOPs of one training step and of the
inference forward pass (one rollout, or the CNN's forward) per image from XLA's cost analysis
of the compiled programs; and what the attention model reads: pixels sensed per image
(glimpses x scales x g^2, plus the context network's down-sampled image) against the CNN's
whole input. Batches come from the synthetic digits (device work does not depend on pixels).
"""

from __future__ import annotations

import importlib
import json
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from attn_rl.core import method as method_lib
from attn_rl.core import provenance
from attn_rl.data import pipeline, sequences
from attn_rl.tools import costs

_OUT = flags.DEFINE_string("out", "benchmarks/dram_cpu.json", "Output JSON path.")
_CONFIG = flags.DEFINE_string("config", "dram_multidigit", "Config module in configs/.")
_ARMS = flags.DEFINE_list("arms", ["cnn", "nocontext", "", "entropy", "full"],
                          "Config variants compared ('' = DRAM), each with `cpu`.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timed run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per arm; the median is reported.")


def load(arm: str):
  c = importlib.import_module(f"configs.{_CONFIG.value}").get_config(
      ",".join(t for t in ("cpu", arm) if t))
  with c.unlocked():
    c.data.source = "synthetic"
    c.train.batch_size = _BATCH.value
    c.train.num_seeds = 1
  return c


class Arm:
  def __init__(self, arm: str):
    self.name = arm or "dram"
    config = self.config = load(arm)
    method = method_lib.get(config.method)
    model = method.make_model(config, pipeline.num_classes(config.data))
    shape = pipeline.image_shape(config.data)
    state = jax.jit(lambda k: method.init_state(config, model, k, shape))(
        jax.random.key(0))
    fetch, _ = sequences.make_fetch(config.data, "train", seed=0)
    self.batch = jax.tree.map(jnp.asarray, fetch(np.arange(_BATCH.value), 0))
    self.timer = costs.TimedStep(method, config, model, state, self.batch,
                                 batch_size=_BATCH.value)
    m = config.model
    if config.method == "dram":
      glimpses = m.glimpses_per_label * sequences.sequence_length(config.data)
      context = m.context_size ** 2 if m.context else 0
      self.pixels = glimpses * m.num_scales * m.glimpse_size ** 2 + context
    else:
      self.pixels = int(np.prod(shape))


def main(argv):
  del argv
  arms = [Arm(a) for a in _ARMS.value]
  costs.time_alternately([a.timer for a in arms], repeats=_REPEATS.value, steps=_STEPS.value)
  rows = []
  for a in arms:
    t = a.timer
    step = statistics.median(t.times)
    rows.append({"arm": a.name, "step_seconds_median": step,
                 "train_images_per_sec": _BATCH.value / step,
                 "train_flops_per_image": t.train_flops,
                 "forward_flops_per_image": t.forward_flops,
                 "pixels_read_per_image": a.pixels, "parameters": t.params,
                 "step_seconds_each": t.times})
    print(f"{a.name:10s} {step * 1e3:8.1f} ms/step  {_BATCH.value / step:7.1f} img/s  "
          f"forward {t.forward_flops / 1e6:7.1f} MFLOP/img  train {t.train_flops / 1e6:7.1f} "
          f"MFLOP/img  {a.pixels} px read  {t.params} params")
  out = {"config": f"configs/{_CONFIG.value}.py:cpu", "batch_size": _BATCH.value,
         "steps_per_run": _STEPS.value, "repeats": _REPEATS.value, "rows": rows,
         **provenance.provenance()}
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  app.run(main)
