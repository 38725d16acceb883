"""Throughput benchmark: full training steps vs the input pipeline, per RAM task; writes JSON.

  python -m attn_rl.tools.bench --out=benchmarks/ram_throughput_cpu.json \
      [--batch_sizes=128,512] [--sensors=table,patch] [--tasks=clutter60_8x12x3]
  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m attn_rl.tools.bench \
      --device_counts=1,2,4,8 --out=benchmarks/ram_scaling_cpu8.json   # images/s vs devices
  python -m attn_rl.tools.bench --tasks=clutter60_8x12x3 --canvas_sizes=60,100,200 \
      --sensors=table,patch --out=benchmarks/ram_image_size_cpu.json     # images/s vs image side
  python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
      --batch_sizes=128 --profile_steps=30 --out=benchmarks/ram_profile_cpu.json  # time by part
  python -m attn_rl.tools.bench --unrolls=false,true --out=benchmarks/ram_unroll_cpu_xeon.json
      # rolled against unrolled glimpse loop (model.unroll)
  python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
      --batch_sizes=128 --dots --out=benchmarks/ram_dots_cpu.json  # the matmuls' lower bound

For each task, batch size, glimpse sensor and loop unroll: median images/s of the jitted train step
(forward, backward, three optimizer updates) over --repeats timed runs of --steps steps after
warm-up. All variants are compiled first and their timed runs interleaved (round-robin), so
a noisy neighbour slows every variant alike and the ratios stay meaningful. Also: the host
pipeline's images/s (canvas generation for the same batches), XLA's FLOPs per image (from a
fully unrolled copy of the step: XLA's cost analysis counts a loop body once), and the
fraction of the machine's float32 matmul peak, measured in the same process. Uses synthetic
digits, so no dataset is needed; device work is identical to training on MNIST. With
--dots, each row also gets the step's matmuls timed alone at their shapes
(`op_profile.dot_census`): the time they need of the step and the best fraction of peak they
reach here, which bounds the step's.
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from attn_rl.core import method as method_lib
from attn_rl.core import parallel, provenance
from attn_rl.data import digits as digits_lib
from attn_rl.data import pipeline
from attn_rl.tools import costs, op_profile

_OUT = flags.DEFINE_string("out", "benchmarks/ram_throughput.json", "Output JSON path.")
_BATCHES = flags.DEFINE_list("batch_sizes", ["128", "512"], "Global batch sizes.")
_TASKS = flags.DEFINE_list("tasks", None, "Subset of task names (default: all).")
_SENSORS = flags.DEFINE_list("sensors", None, "Glimpse sensors to compare (default: config's).")
_UNROLLS = flags.DEFINE_list(
    "unrolls", None, "model.unroll settings to compare, e.g. false,true (default: config's).")
_DEVICES = flags.DEFINE_list("device_counts", ["-1"], "Mesh sizes (config.mesh.data; -1 = all).")
_CANVASES = flags.DEFINE_list("canvas_sizes", [], "Override data.canvas_size (image-size sweep).")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps per timed run.")
_PROFILE_STEPS = flags.DEFINE_integer(
    "profile_steps", 0, "If > 0, trace this many steps of each variant after the timed runs and "
    "add each row's 'profile': device time by model component and by pass (op_profile.py).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")
_DOTS = flags.DEFINE_bool("dots", False, "Also time the step's matmuls alone at their shapes "
                          "(op_profile.dot_census) after the timed runs.")
_DOT_COPIES = flags.DEFINE_integer("dot_copies", 16, "With --dots: independent dots per timed "
                                   "program.")

# name -> (config module, overrides). The *_6g rows match the reference PyTorch port's setup.
TASKS = {
    "mnist28_6x8x1": ("ram_mnist", {}),
    "translated60_6x12x3": ("ram_translated", {"model.num_glimpses": 6}),
    "translated60_8x12x3": ("ram_translated", {}),
    "clutter60_8x12x3": ("ram_clutter", {}),
    "clutter100_8x12x4": ("ram_clutter100", {}),
}


def load(name, overrides, batch):
  c = importlib.import_module(f"configs.{name}").get_config()
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


class Variant:
  """One (config, batch) compiled and ready to time; `run(steps)` returns images/s."""

  def __init__(self, config):
    self.config = config
    method = method_lib.get(config.method)
    mesh = parallel.make_mesh(config.mesh)
    parallel.check_divisible(config.train.batch_size, mesh, "train.batch_size")
    num_classes = pipeline.num_classes(config.data)
    model = method.make_model(config, num_classes)
    shape = pipeline.image_shape(config.data)
    repl = parallel.replicated(mesh)
    init = lambda k: method.init_state(config, model, k, shape)
    state_sharding = jax.tree.map(lambda _: repl, jax.eval_shape(init, jax.random.key(0)))
    self.state = jax.jit(init, out_shardings=state_sharding)(jax.random.key(0))
    shardings = dict(in_shardings=(state_sharding, parallel.batch_sharded(mesh), repl),
                     out_shardings=(state_sharding, repl))
    self.step = jax.jit(method.make_train_step(config, model), donate_argnums=(0,), **shardings)
    num_train = len(digits_lib.load_digits(config.data, "train"))
    self.batches, _ = pipeline.make_batches(
        config.data, "train", seed=0, global_batch=min(config.train.batch_size, num_train))
    host = [self.batches(i % self.batches.steps_per_epoch) for i in range(4)]
    if len(host[0]["label"]) < config.train.batch_size:  # Tile past the synthetic set's size.
      reps = -(-config.train.batch_size // len(host[0]["label"]))
      host = [{k: np.concatenate([v] * reps)[:config.train.batch_size] for k, v in b.items()}
              for b in host]
    self.device_batches = [parallel.global_batch(b, mesh) for b in host]
    self.key = jax.random.key(1)
    unrolled = method.make_model(config, num_classes)
    unrolled.agent.scan_unroll = True
    counted = jax.jit(method.make_train_step(config, unrolled), **shardings)
    # The cost analysis of a sharded program is per device.
    self.flops = mesh.size * costs.compiled_flops(
        counted.lower(self.state, self.device_batches[0], self.key).compile())
    for b in self.device_batches[:2]:  # Compile and warm up.
      self.state, m = self.step(self.state, b, self.key)
      if not hasattr(self, "first_loss"):
        # Same init, batch and key on every mesh: equal to float tolerance across meshes.
        self.first_loss = float(m["loss/total"])
    jax.block_until_ready(m)
    self.rates, self.pipe_rates = [], []

  def _advance(self, steps: int) -> None:
    """Runs `steps` train steps and waits for the last."""
    for i in range(steps):
      self.state, m = self.step(self.state, self.device_batches[i % 4], self.key)
    jax.block_until_ready(m)

  def run(self, steps: int) -> None:
    t = time.perf_counter()
    self._advance(steps)
    self.rates.append(steps * self.config.train.batch_size / (time.perf_counter() - t))

  def profile(self, steps: int) -> dict:
    """op_profile's breakdown of `steps` traced steps (not counted in the timed runs)."""
    args = (self.state, self.device_batches[0], self.key)
    return op_profile.profile(self.step, args, lambda: self._advance(steps), steps)

  def dots(self, peak: float, copies: int, repeats: int) -> dict:
    """The step's matmuls timed alone (`op_profile.dot_rows`) against its median step time."""
    jaxpr = jax.make_jaxpr(self.step)(self.state, self.device_batches[0], self.key)
    rows = op_profile.dot_rows(op_profile.dot_census(jaxpr), copies, repeats, peak)
    step_seconds = self.config.train.batch_size / statistics.median(self.rates)
    return {**op_profile.summarize_dots(rows, step_seconds, peak), "dots": rows}

  def run_pipeline(self, steps: int, repeat: int) -> None:
    t = time.perf_counter()
    n = sum(len(self.batches(repeat * steps + i)["label"]) for i in range(steps))
    self.pipe_rates.append(n / (time.perf_counter() - t))


def _parse_bool(text: str, flag: str) -> bool:
  if text.lower() not in ("true", "false"):
    raise app.UsageError(f"{flag}: {text!r} is not true or false.")
  return text.lower() == "true"


def main(argv):
  del argv
  peak = matmul_peak()
  variants = []
  canvases = [int(c) for c in _CANVASES.value] or [None]
  unrolls = [_parse_bool(u, "--unrolls") for u in _UNROLLS.value or []] or [None]
  for (name, (module, overrides)), batch, sensor, devices, canvas, unroll in itertools.product(
      TASKS.items(), map(int, _BATCHES.value), _SENSORS.value or [None],
      map(int, _DEVICES.value), canvases, unrolls):
    if _TASKS.value and name not in _TASKS.value:
      continue
    extra = {"mesh.data": devices}
    if sensor:
      extra["model.sensor"] = sensor
    if canvas:
      extra["data.canvas_size"] = canvas
    if unroll is not None:
      extra["model.unroll"] = unroll
    config = load(module, {**overrides, **extra}, batch)
    print(f"compiling {name} batch {batch} sensor {sensor} devices {devices} "
          f"canvas {config.data.canvas_size} unroll {config.model.unroll}", flush=True)
    variants.append((name, module, overrides, config.model.sensor, Variant(config)))
  for r in range(_REPEATS.value):
    for *_, v in variants:
      v.run(_STEPS.value)
    for *_, v in variants:
      v.run_pipeline(_STEPS.value, r)
  profiles = [v.profile(_PROFILE_STEPS.value) if _PROFILE_STEPS.value else None
              for *_, v in variants]
  dots = [v.dots(peak, _DOT_COPIES.value, _REPEATS.value) if _DOTS.value else None
          for *_, v in variants]
  rows = []
  for (name, module, overrides, sensor, v), prof, dot in zip(variants, profiles, dots,
                                                              strict=True):
    c = v.config
    r = {
        "task": name, "config": module, "overrides": overrides, "sensor": sensor,
        "batch_size": c.train.batch_size, "canvas": c.data.canvas_size,
        "glimpses": c.model.num_glimpses, "glimpse_size": c.model.glimpse_size,
        "scales": c.model.num_scales, "unroll": c.model.unroll,
        "mesh_devices": len(jax.devices()) if c.mesh.data == -1 else c.mesh.data,
        "first_step_loss": v.first_loss,
        "train_images_per_sec": statistics.median(v.rates),
        "train_images_per_sec_runs": v.rates,
        "pipeline_images_per_sec": statistics.median(v.pipe_rates),
        "flops_per_image": v.flops / c.train.batch_size,
    }
    r["fraction_of_matmul_peak"] = r["train_images_per_sec"] * r["flops_per_image"] / peak
    if prof:
      r["profile"] = prof
      print(f"  {name}: op time by component", "  ".join(
          f"{k} {100 * f:.0f}%" for k, f in prof["by_component"].items()), flush=True)
    if dot:
      r["dots"] = dot
      print(f"  {name}: matmuls alone {1e3 * dot['dots_alone_seconds']:.2f} ms of the step's "
            f"{1e3 * dot['step_seconds']:.2f} ms ({100 * dot['dot_share']:.0f}%), at "
            f"{100 * dot['dots_alone_fraction_of_matmul_peak']:.0f}% of peak", flush=True)
    rows.append(r)
    print(f"{name:22s} canvas {r['canvas']:3d} batch {r['batch_size']:5d} {sensor:6s} "
          f"{'unrolled' if c.model.unroll else 'rolled':8s} {r['mesh_devices']} dev: "
          f"step {r['train_images_per_sec']:9.0f} img/s, "
          f"pipeline {r['pipeline_images_per_sec']:9.0f} img/s, "
          f"{r['flops_per_image'] / 1e6:.2f} MFLOP/img, "
          f"{100 * r['fraction_of_matmul_peak']:.1f}% of peak", flush=True)
  out = {
      **provenance.provenance(),
      "matmul_peak_flops": peak,
      # Several CPU "devices" (XLA_FLAGS=--xla_force_host_platform_device_count=N) share the
      # same cores: such rows check that every mesh size runs and agrees, not speed.
      "fake_cpu_devices": jax.default_backend() == "cpu" and jax.device_count() > 1,
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
