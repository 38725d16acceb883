"""Seeds in one process against separate processes: aggregate training images/s; writes JSON.

  python -m attn_rl.tools.bench_seeds --out=benchmarks/seeds_cpu.json
  python -m attn_rl.tools.bench_seeds --tasks=clutter60 --num_seeds=1,2,4 --separate=false
  taskset -c 0 python -m attn_rl.tools.bench_seeds --pinned_pair=false   # all on one core

For each task, each N of --num_seeds and each `train.seeds_mode` of --modes (`core/seeds.py`:
'vmap', or 'loop', the one-seed step once per seed in one program): the jitted training step of
N seeds' stacked states on N seeds' batches, as `train.num_seeds=N` runs it, timed over
--steps steps after warm-up; all variants compiled first and timed round-robin, so background
load hits each alike. Aggregate images/s = N x batch x steps / seconds.

Against N separate processes (--separate): a worker process of this tool times one seed's
step (a) alone, on the cores this process may use, as each of N runs started one after
another would run (aggregate of N sequential runs = that rate), and (b) two workers at once,
pinned one per core with `taskset` (aggregate = the sum of the two rates; N runs two at a time
keep that rate). Synthetic digits and random init: device work is the same as on MNIST.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import jax
from absl import app, flags

from attn_rl.core import method as method_lib
from attn_rl.core import parallel, provenance
from attn_rl.core import seeds as seeds_lib
from attn_rl.data import pipeline

_OUT = flags.DEFINE_string("out", "benchmarks/seeds.json", "Output JSON path.")
_TASKS = flags.DEFINE_list("tasks", None, "Subset of TASKS (default: all).")
_SEEDS = flags.DEFINE_list("num_seeds", ["1", "2", "4", "8"], "Seeds per process to time.")
_MODES = flags.DEFINE_list("modes", ["vmap", "loop"], "train.seeds_mode values to compare.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size of each seed.")
_STEPS = flags.DEFINE_integer("steps", 10, "Steps per timed run.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")
_SEPARATE = flags.DEFINE_bool("separate", True, "Also time separate single-seed processes.")
_PAIR = flags.DEFINE_bool("pinned_pair", True, "With --separate, also two workers at once "
                          "pinned to cores 0 and 1 (needs both cores free).")
_WORKER = flags.DEFINE_string("worker", None, "Internal: time one seed of this task, print "
                              "its median images/s as JSON.")
_QUICK = flags.DEFINE_bool("quicktest", False, "The configs' quicktest networks (a check of "
                           "this tool, not a benchmark).")

# name -> (config module, variant, overrides).
TASKS = {
    "mnist28": ("ram_mnist", "", {}),
    "clutter60": ("ram_clutter", "", {}),
    "clutter100": ("ram_clutter100", "", {}),
    "dreal_se": ("dreal_clutter", "se", {}),
    "dreal_cbam": ("dreal_clutter", "cbam", {}),
    "topdown_mnist": ("topdown_mnist", "full", {}),
    # The paper's 8-glimpse 100x100 network (fully connected glimpses; the Q-network's conv).
    "topdown100": ("topdown_clutter100", "full,glimpses8,mlp,clutter10", {}),
    # The same without the top-down agent: no convolution left in the step.
    "topdown100_bottomup": ("topdown_clutter100", "entropy,context,glimpses8,mlp,clutter10", {}),
    # The 60x60 model: the conv glimpse network and the Q-network.
    "topdown60": ("topdown_clutter", "full", {}),
}


def load(task: str, num_seeds: int, mode: str = "vmap"):
  module, variant, overrides = TASKS[task]
  variant = ",".join(v for v in (variant, "quicktest" if _QUICK.value else "") if v)
  c = importlib.import_module(f"configs.{module}").get_config(variant or None)
  with c.unlocked():
    c.data.source = "synthetic"
    c.train.batch_size = _BATCH.value
    c.train.num_seeds = num_seeds
    c.train.seeds_mode = mode
    for k, v in overrides.items():
      group, key = k.split(".")
      c[group][key] = v
  return c


class SeedsStep:
  """The training step of `num_seeds` stacked seeds, built as the loop builds it."""

  def __init__(self, config):
    self.config = config
    n = self.num_seeds = config.train.num_seeds
    method = method_lib.get(config.method)
    mesh = parallel.make_mesh(config.mesh)
    model = method.make_model(config, pipeline.num_classes(config.data))
    init = lambda k: method.init_state(config, model, k, pipeline.image_shape(config.data))
    step = method.make_train_step(config, model)
    over = lambda f: seeds_lib.over_seeds(f, n, mode=config.train.seeds_mode)
    sharding = parallel.seed_stacked(mesh) if n > 1 else parallel.replicated(mesh)
    batch_sharding = (parallel.seed_batch_sharded(mesh) if n > 1
                      else parallel.batch_sharded(mesh))
    keys = jax.random.split(jax.random.key(0), n) if n > 1 else jax.random.key(0)
    self.state = jax.jit(over(init), out_shardings=sharding)(keys)
    self.step = jax.jit(over(step), donate_argnums=(0,),
                        in_shardings=(sharding, batch_sharding, sharding),
                        out_shardings=(sharding, sharding))
    seeds = list(range(n)) if n > 1 else 0
    batches, _ = pipeline.make_batches(config.data, "train", seed=seeds,
                                       global_batch=config.train.batch_size)
    self.batches = [parallel.global_batch(batches(i), mesh, batch_sharding) for i in range(4)]
    self.key = keys
    self._advance(2)  # Compile and warm up.
    self.rates = []

  def _advance(self, steps: int) -> None:
    for i in range(steps):
      self.state, m = self.step(self.state, self.batches[i % 4], self.key)
    jax.block_until_ready(m)

  def run(self, steps: int) -> None:
    t = time.perf_counter()
    self._advance(steps)
    self.rates.append(self.num_seeds * steps * self.config.train.batch_size
                      / (time.perf_counter() - t))


def _worker_command(task: str, cpu: int | None) -> list[str]:
  cmd = [sys.executable, "-m", "attn_rl.tools.bench_seeds", f"--worker={task}",
         f"--batch_size={_BATCH.value}", f"--steps={_STEPS.value}",
         f"--repeats={_REPEATS.value}", f"--quicktest={_QUICK.value}"]
  return (["taskset", "-c", str(cpu)] if cpu is not None else []) + cmd


def _rates(procs: list[subprocess.Popen]) -> list[float]:
  out = []
  for p in procs:
    stdout, _ = p.communicate()
    if p.returncode:
      raise RuntimeError(f"worker failed ({p.returncode}): {' '.join(p.args)}")
    out.append(json.loads(stdout.strip().splitlines()[-1])["images_per_sec"])
  return out


def separate_processes(task: str) -> dict:
  """One single-seed worker on the cores this process has, then two at once pinned one per
  core."""
  start = lambda cpu: subprocess.Popen(_worker_command(task, cpu), stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
  (alone,) = _rates([start(None)])
  row = {"single_seed_process_images_per_sec": alone,
         "aggregate_sequential_images_per_sec": alone}
  if _PAIR.value and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
    pair = _rates([start(0), start(1)])
    row.update(pinned_pair_images_per_sec=pair,
               aggregate_two_at_a_time_pinned_images_per_sec=sum(pair))
  return row


def worker(task: str) -> None:
  v = SeedsStep(load(task, 1))
  for _ in range(_REPEATS.value):
    v.run(_STEPS.value)
  print(json.dumps({"task": task, "images_per_sec": statistics.median(v.rates),
                    "runs": v.rates}))


def main(argv):
  del argv
  if _WORKER.value:
    worker(_WORKER.value)
    return
  tasks = _TASKS.value or list(TASKS)
  unknown = sorted(set(tasks) - set(TASKS))
  if unknown:
    raise app.UsageError(f"--tasks: unknown {unknown}; known: {', '.join(TASKS)}.")
  out = {**provenance.provenance(), "load_average_at_start": os.getloadavg(),
         "batch_size_per_seed": _BATCH.value, "steps_per_run": _STEPS.value,
         "repeats": _REPEATS.value, "quicktest": _QUICK.value,
         "cpus_available": len(os.sched_getaffinity(0)),
         "goal": "4 seeds in one process >= 1.5 x the aggregate of 4 separate runs", "rows": []}
  for task in tasks:
    variants = []
    for n in map(int, _SEEDS.value):
      for mode in _MODES.value if n > 1 else ["vmap"]:
        print(f"compiling {task} with {n} seeds ({mode})", flush=True)
        variants.append(SeedsStep(load(task, n, mode)))
    for _ in range(_REPEATS.value):
      for v in variants:
        v.run(_STEPS.value)
    row = {"task": task, "config": ":".join(x for x in TASKS[task][:2] if x),
           "one_process": [{"num_seeds": v.num_seeds, "seeds_mode": v.config.train.seeds_mode,
                            "aggregate_images_per_sec": statistics.median(v.rates),
                            "runs": v.rates} for v in variants]}
    variants.clear()
    if _SEPARATE.value:
      row["separate_processes"] = separate_processes(task)
      sep = row["separate_processes"]
      for r in row["one_process"]:
        r["vs_sequential"] = r["aggregate_images_per_sec"] / sep[
            "aggregate_sequential_images_per_sec"]
        if "aggregate_two_at_a_time_pinned_images_per_sec" in sep:
          r["vs_two_at_a_time_pinned"] = r["aggregate_images_per_sec"] / sep[
              "aggregate_two_at_a_time_pinned_images_per_sec"]
    print(json.dumps(row), flush=True)
    out["rows"].append(row)
  out["load_average_at_end"] = os.getloadavg()
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump(out, f, indent=1)
  print("wrote", _OUT.value)


if __name__ == "__main__":
  app.run(main)
