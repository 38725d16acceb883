"""Throughput benchmark: full training steps vs the input pipeline, per RAM task; writes JSON.

  python -m attn_rl.bench --out=benchmarks/ram_throughput_cpu.json [--batch_sizes=128,512]

For each task and batch size: median images/s of the jitted train step (forward, backward,
three optimizer updates) over --repeats timed runs of --steps steps after warm-up; the host
pipeline's images/s (canvas generation for the same batches); XLA's FLOPs per image; and the
fraction of the machine's float32 matmul peak measured in the same process. Uses synthetic
digits, so no dataset is needed; device work is identical to training on MNIST.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from attn_rl import loop, methods, parallel
from attn_rl.data import pipeline, sources

_OUT = flags.DEFINE_string("out", "benchmarks/ram_throughput.json", "Output JSON path.")
_BATCHES = flags.DEFINE_list("batch_sizes", ["128", "512"], "Global batch sizes.")
_TASKS = flags.DEFINE_list("tasks", None, "Subset of task names (default: all).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")

# name -> (config module, overrides). The *_6g rows match the reference PyTorch port's setup.
TASKS = {
    "mnist28_6x8x1": ("ram_mnist", {}),
    "translated60_6x12x3": ("ram_translated", {"model.num_glimpses": 6}),
    "translated60_8x12x3": ("ram_translated", {}),
    "clutter60_8x12x3": ("ram_clutter", {}),
    "clutter100_8x12x4": ("ram_clutter100", {}),
}


def load(name, overrides, batch):
  import importlib
  module = importlib.import_module(f"configs.{name}")
  c = module.get_config()
  with c.unlocked():
    c.data.source = "synthetic"
    c.train.batch_size = batch
    for k, v in overrides.items():
      group, key = k.split(".")
      c[group][key] = v
  return c


def matmul_peak(n=2048, repeats=10) -> float:
  """Median float32 FLOP/s of an n x n matmul."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n**3 / statistics.median(times)


def bench_one(config, steps, repeats) -> dict:
  method = methods.get(config.method)
  mesh = parallel.make_mesh(config.mesh)
  parallel.check_divisible(config.train.batch_size, mesh, "train.batch_size")
  model = method.make_model(config)
  shape = (config.data.canvas_size,) * 2
  repl = parallel.replicated(mesh)
  init = lambda k: method.init_state(config, model, k, shape)
  state_sharding = jax.tree.map(lambda _: repl, jax.eval_shape(init, jax.random.key(0)))
  state = jax.jit(init, out_shardings=state_sharding)(jax.random.key(0))
  step = jax.jit(method.make_train_step(config, model),
                 in_shardings=(state_sharding, parallel.batch_sharded(mesh), repl),
                 out_shardings=(state_sharding, repl), donate_argnums=(0,))
  digits = sources.load_digits(config.data, "train")
  batches = pipeline.TrainBatches(config.data, digits, seed=0,
                                  global_batch=min(config.train.batch_size, len(digits)))
  host = [batches(i % batches.steps_per_epoch) for i in range(4)]
  if len(host[0]["label"]) < config.train.batch_size:  # Tile past the synthetic set's size.
    reps = -(-config.train.batch_size // len(host[0]["label"]))
    host = [{k: np.concatenate([v] * reps)[:config.train.batch_size] for k, v in b.items()}
            for b in host]
  device_batches = [parallel.global_batch(b, mesh) for b in host]
  key = jax.random.key(1)
  compiled = step.lower(state, device_batches[0], key).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list | tuple) else cost
  flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  for b in device_batches[:2]:  # Warm-up.
    state, m = step(state, b, key)
  jax.block_until_ready(m)
  rates = []
  for _ in range(repeats):
    t = time.perf_counter()
    for i in range(steps):
      state, m = step(state, device_batches[i % 4], key)
    jax.block_until_ready(m)
    rates.append(steps * config.train.batch_size / (time.perf_counter() - t))
  pipe_rates = []
  for r in range(repeats):
    t = time.perf_counter()
    n = 0
    for i in range(steps):
      n += len(batches(r * steps + i)["label"])
    pipe_rates.append(n / (time.perf_counter() - t))
  return {
      "train_images_per_sec": statistics.median(rates),
      "train_images_per_sec_runs": rates,
      "pipeline_images_per_sec": statistics.median(pipe_rates),
      "flops_per_image": flops / config.train.batch_size,
  }


def main(argv):
  del argv
  peak = matmul_peak()
  rows = []
  for name, (module, overrides) in TASKS.items():
    if _TASKS.value and name not in _TASKS.value:
      continue
    for batch in map(int, _BATCHES.value):
      config = load(module, overrides, batch)
      r = bench_one(config, _STEPS.value, _REPEATS.value)
      r.update(task=name, config=module, overrides=overrides, batch_size=batch,
               canvas=config.data.canvas_size, glimpses=config.model.num_glimpses,
               glimpse_size=config.model.glimpse_size, scales=config.model.num_scales)
      r["fraction_of_matmul_peak"] = r["train_images_per_sec"] * r["flops_per_image"] / peak
      rows.append(r)
      print(f"{name:22s} batch {batch:5d}: step {r['train_images_per_sec']:9.0f} img/s, "
            f"pipeline {r['pipeline_images_per_sec']:9.0f} img/s, "
            f"{r['flops_per_image'] / 1e6:.2f} MFLOP/img, "
            f"{100 * r['fraction_of_matmul_peak']:.1f}% of peak", flush=True)
  out = {
      **loop.provenance(),
      "matmul_peak_flops": peak,
      "steps_per_run": _STEPS.value,
      "repeats": _REPEATS.value,
      "rows": rows,
  }
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)
  print("wrote", _OUT.value)


if __name__ == "__main__":
  app.run(main)
