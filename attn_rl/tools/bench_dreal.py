"""DREAL overhead benchmark: train step with critics vs without, and parameter counts; writes JSON.

  python -m attn_rl.tools.bench_dreal --out=benchmarks/dreal_overhead_cpu.json

For each attention module (SE, CBAM, SRM) on the configs/dreal_clutter.py network (or any
config of a method built on DREAL's step, `--config=reid_digits`: the re-ID step): the median
time of one jitted train step with critics (forward, substituted rollouts, backward, three
updates) and of the same network's vanilla step (cross-entropy only), compiled in the same
process and timed after warm-up, alternating the two so that background load hits both alike.
Batches are random uint8 canvases (device work does not depend on pixel values). CBAM, with
two maps per block, is timed twice: substituting both maps of each drawn block (the paper's,
6 rollouts) and one of them (`dreal.substitute='map'`, 3 rollouts).

Parameter counts of SE/CBAM/SRM-ResNet-50 (224x224x3, 1000 classes) with and without critics
come from `jax.eval_shape` of the initialiser: nothing is computed.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from attn_rl.backbones import attention, resnet
from attn_rl.core import method as method_lib
from attn_rl.core import provenance
from attn_rl.data import pipeline
from attn_rl.methods.dreal import steps as dreal_steps

_OUT = flags.DEFINE_string("out", "benchmarks/dreal_overhead.json", "Output JSON path.")
_KINDS = flags.DEFINE_list("kinds", ["se", "cbam", "srm"], "Attention modules.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Global batch size.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timed run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per variant; the median is reported.")
_CONFIG = flags.DEFINE_string("config", "dreal_clutter", "Config module in configs/.")


def load(kind: str, critics: bool, batch: int, substitute: str = "block"
         ) -> ml_collections.ConfigDict:
  c = importlib.import_module(f"configs.{_CONFIG.value}").get_config(kind)
  with c.unlocked():
    c.data.source = "synthetic"
    c.train.batch_size = batch
    c.dreal.critics = critics
    c.dreal.substitute = substitute
  return c


def time_steps(step, state, batch, num_steps: int) -> float:
  """Seconds per step over num_steps steps (state threaded through, as in training)."""
  key = jax.random.key(0)
  start = time.perf_counter()
  for _ in range(num_steps):
    state, metrics = step(state, batch, key)
  jax.block_until_ready((state, metrics))
  return (time.perf_counter() - start) / num_steps


def overhead_row(kind: str, substitute: str = "block") -> dict:
  config = load(kind, True, _BATCH.value, substitute)
  method = method_lib.get(config.method)  # DREAL, or a method built on it (re-ID).
  num_classes = pipeline.num_classes(config.data)
  model = method.make_model(config, num_classes)
  shape = pipeline.image_shape(config.data)
  state = jax.jit(lambda k: method.init_state(config, model, k, shape))(jax.random.key(0))
  rng = np.random.default_rng(0)
  # Re-ID's triplet needs several images per identity: labels in pairs (any P x K times alike).
  labels = rng.integers(0, num_classes, _BATCH.value // 2).repeat(2)
  batch = {"image": jnp.asarray(rng.integers(0, 256, (_BATCH.value, *shape)), jnp.uint8),
           "label": jnp.asarray(labels, jnp.int32)}
  steps = {}
  for name, critics in (("with_critics", True), ("vanilla", False)):
    steps[name] = jax.jit(method.make_train_step(
        load(kind, critics, _BATCH.value, substitute), model))
    time_steps(steps[name], state, batch, 2)  # Compile and warm up.
  runs = {name: [] for name in steps}
  for _ in range(_REPEATS.value):
    for name, step in steps.items():
      runs[name].append(time_steps(step, state, batch, _STEPS.value))
  med = {name: statistics.median(r) for name, r in runs.items()}
  return {
      "attention": kind, "config": f"{_CONFIG.value}:{kind}", "method": config.method,
      "batch_size": _BATCH.value, "image_shape": list(shape),
      "stage_sizes": list(model.stage_sizes), "widths": list(model.widths),
      "rollouts_per_step": len(dreal_steps.choose_overrides(model, jax.random.key(0),
                                                           substitute)),
      "substitute": substitute, "reuse_prefix": bool(config.dreal.reuse_prefix),
      "step_seconds_with_critics": med["with_critics"], "step_seconds_vanilla": med["vanilla"],
      "ratio": med["with_critics"] / med["vanilla"],
      "runs_with_critics": runs["with_critics"], "runs_vanilla": runs["vanilla"],
  }


def resnet50_counts(kind: str) -> dict:
  c = ml_collections.ConfigDict(dict(
      arch="resnet50", attention=kind, reduction=16, mean_mode="example", bn_momentum=0.9,
      input_mean=[0.485, 0.456, 0.406], input_std=[0.229, 0.224, 0.225]))
  model = resnet.make_resnet(c, num_classes=1000)
  shapes = jax.eval_shape(lambda k: dreal_steps.init_variables(model, k, (224, 224, 3)),
                          jax.random.key(0))
  n = {k: resnet.num_params(v) for k, v in shapes.items()}
  return {
      "model": f"{kind.upper()}-ResNet-50", "backbone": n["backbone"], "attention": n["actor"],
      "critics": n["critic"], "without_critics": n["backbone"] + n["actor"],
      "with_critics": n["backbone"] + n["actor"] + n["critic"],
  }


def main(argv):
  del argv
  out = {**provenance.provenance(), "load_average_at_start": os.getloadavg(),
         "steps_per_run": _STEPS.value, "repeats": _REPEATS.value,
         "goal": "step_seconds_with_critics / step_seconds_vanilla <= 1.5",
         "overhead": [], "resnet50_params": [resnet50_counts(k) for k in ("se", "cbam", "srm")]}
  for kind in _KINDS.value:
    # CBAM (two maps per block) also with dreal.substitute='map': one rollout per stage.
    several = len(attention.MAP_KINDS[kind]) > 1
    for substitute in dreal_steps.SUBSTITUTE if several else ("block",):
      row = overhead_row(kind, substitute)
      print(json.dumps({k: v for k, v in row.items() if not k.startswith("runs")}))
      out["overhead"].append(row)
  for row in out["resnet50_params"]:
    print(json.dumps(row))
  out["load_average_at_end"] = os.getloadavg()
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  app.run(main)
