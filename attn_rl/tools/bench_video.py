"""The video method's arms side by side: train-step time, FLOPs of attention + LSTM per clip,
slices read per clip; writes JSON.

  python -m attn_rl.tools.bench_video --out=benchmarks/video_cpu.json

For each arm of configs/video_moving_mnist.py at the `cpu` widths (one seed): the median over
`repeats` timed runs of `steps` jitted train steps, the arms alternating so that background
load hits all alike; FLOPs of one training step and of the inference forward pass per clip
from XLA's cost analysis; and the slices read per clip (T x slices read per frame: every
slice for soft, mean and content-scored policies, m for a limited state policy; for the
unlimited policy the count of a forward pass at initialisation, where each slice is read
with probability about 1/2: trained runs report theirs as `reads`). The cubes are random, of
Moving MNIST's shape [20, 8, 8, 64] (device work does not depend on their values); the frame
CNN that made them is not counted (it runs once per video, before training, for every arm).
"""

from __future__ import annotations

import importlib
import json
import os
import statistics

import jax
import jax.numpy as jnp
from absl import app, flags

from attn_rl.core import method as method_lib
from attn_rl.core import provenance
from attn_rl.methods.video.model import VideoAttention
from attn_rl.tools import costs

_OUT = flags.DEFINE_string("out", "benchmarks/video_cpu.json", "Output JSON path.")
_ARMS = flags.DEFINE_list("arms", ["mean", "soft", "", "unlimited", "content"],
                          "Config variants compared ('' = hard, 5 glimpses), each with `cpu`.")
_SHAPE = flags.DEFINE_list("clip_shape", ["20", "8", "8", "64"], "T, K, K, D of a clip.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timed run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per arm; the median is reported.")


class Arm:
  def __init__(self, arm: str):
    self.name = arm or "hard"
    config = self.config = importlib.import_module("configs.video_moving_mnist").get_config(
        ",".join(t for t in ("cpu", arm) if t))
    shape = tuple(int(s) for s in _SHAPE.value)
    method = method_lib.get("video")
    model = VideoAttention(config.model, 10, shape[1] * shape[2], False)
    state = jax.jit(lambda k: method.init_state(config, model, k, shape))(
        jax.random.key(0))
    keys = jax.random.split(jax.random.key(2), 2)
    self.batch = {"image": jax.random.normal(keys[0], (_BATCH.value, *shape)),
                  "label": jax.random.randint(keys[1], (_BATCH.value,), 0, 10),
                  "video": jnp.arange(_BATCH.value)}
    self.timer = costs.TimedStep(method, config, model, state, self.batch,
                                 batch_size=_BATCH.value)
    self.reads = float(self.timer.forward_out.reads.sum(0).mean())


def main(argv):
  del argv
  arms = [Arm(a) for a in _ARMS.value]
  costs.time_alternately([a.timer for a in arms], repeats=_REPEATS.value, steps=_STEPS.value)
  rows = []
  for a in arms:
    t = a.timer
    step = statistics.median(t.times)
    rows.append({"arm": a.name, "step_seconds_median": step,
                 "train_clips_per_sec": _BATCH.value / step,
                 "train_flops_per_clip": t.train_flops,
                 "forward_flops_per_clip": t.forward_flops,
                 "slices_read_per_clip": a.reads, "parameters": t.params,
                 "step_seconds_each": t.times})
    print(f"{a.name:10s} {step * 1e3:8.1f} ms/step  forward {t.forward_flops / 1e6:7.2f} "
          f"MFLOP/clip  train {t.train_flops / 1e6:7.2f} MFLOP/clip  {a.reads:6.1f} slices "
          f"read/clip  {t.params} params")
  out = {"config": "configs/video_moving_mnist.py:cpu", "clip_shape": _SHAPE.value,
         "batch_size": _BATCH.value, "steps_per_run": _STEPS.value,
         "repeats": _REPEATS.value, "rows": rows, **provenance.provenance()}
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  app.run(main)
