"""train_and_evaluate: build, resume, train, validate, checkpoint, and test once at the end.

Generic over the `Method` record (`core/method.py`): the method builds the model, state and
steps; its evaluator turns eval sums into metrics; its selection metric and direction pick the
checkpoint that is tested. Nothing here knows what the method computes.

Workdir layout:
  config.json         the config of the latest start
  metrics.jsonl       one JSON object per log or evaluation (train/*, val/*, test/*)
  checkpoints/        latest Orbax checkpoints (resume from here)
  best/               the checkpoint with the best validation metric (model selection)
  pictures/           the method's pictures of validation images at each evaluation
  results.json        test metrics of the validation-selected checkpoint, written once
"""

from __future__ import annotations

import json
import os
import signal
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from attn_rl.core import checkpointing, evaluators, parallel
from attn_rl.core import method as method_lib
from attn_rl.core import metric_writers as writers
from attn_rl.core.provenance import command_line, provenance  # noqa: F401 (re-exported)
from attn_rl.data import batching, pipeline


class _StopRequest:
  """Set by SIGINT/SIGTERM: the loop saves a checkpoint and returns at the next step."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    for sig in (signal.SIGINT, signal.SIGTERM):
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # Not the main thread: signals stay with the caller.
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    logging.warning("Received signal %d: checkpointing and stopping.", signum)
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _truncate_metrics(path: epath.Path, last_step: int) -> None:
  """Drops records logged after the checkpoint we resume from (they will be redone)."""
  if path.exists():
    kept = [r for r in writers.read_jsonl(path) if r["step"] <= last_step]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


def train_and_evaluate(config, workdir: str, *, max_steps_this_run: int | None = None) -> dict:
  """Trains config.method; returns the final results (also in workdir/results.json).

  Rerunning with the same workdir resumes from the latest checkpoint; a run that finished
  returns its stored results. `max_steps_this_run` stops (with a checkpoint) after that many
  steps, for jobs with a time limit; the next call continues.
  """
  method = method_lib.get(config.method)
  method.validate(config)
  evaluator = evaluators.get(method.evaluator)
  metric = method.selection_metric
  mesh = parallel.make_mesh(config.mesh)
  parallel.check_divisible(config.train.batch_size, mesh, "train.batch_size")
  parallel.check_divisible(config.eval.batch_size, mesh, "eval.batch_size")
  is_main = jax.process_index() == 0
  proc = dict(process_index=jax.process_index(), process_count=jax.process_count())
  # Local or remote (gs://...: needs `pip install '.[gcs]'`); every file goes through epath.
  workdir = epath.Path(workdir)
  results_path = workdir / "results.json"
  workdir.mkdir(parents=True, exist_ok=True)

  # Checkpoints first: a config mismatch should fail before minutes of data loading.
  latest = checkpointing.Checkpointer(
      str(workdir / "checkpoints"), max_to_keep=config.ckpt.max_to_keep
  )
  best = checkpointing.Checkpointer(str(workdir / "best"), max_to_keep=1)
  config_dict = config.to_dict()
  latest.check_config(config_dict, method.retired_keys)
  if is_main:
    (workdir / "config.json").write_text(json.dumps(config_dict, indent=1, default=str))

  batches, _ = pipeline.make_batches(
      config.data, "train", seed=config.seed, global_batch=config.train.batch_size, **proc
  )
  val_batches, _ = pipeline.make_batches(
      config.data, "validation", seed=config.seed, global_batch=config.eval.batch_size, **proc
  )

  model = method.make_model(config, pipeline.num_classes(config.data))
  init_key, train_key, eval_key, picture_key = jax.random.split(jax.random.key(config.seed), 4)
  repl = parallel.replicated(mesh)
  batch_sharding = parallel.batch_sharded(mesh)
  init_fn = lambda key: method.init_state(config, model, key, pipeline.image_shape(config.data))
  abstract = jax.eval_shape(init_fn, init_key)
  state_sharding = jax.tree.map(lambda _: repl, abstract)

  if latest.latest_step() is not None:
    state, meta = latest.restore(checkpointing.abstract_like(abstract, repl))
    start = int(meta["step"])
    wall_before = float(meta.get("train_seconds", 0.0))
    logging.info("Resumed from step %d in %s.", start, workdir)
  else:
    state = jax.jit(init_fn, out_shardings=state_sharding)(init_key)
    start, wall_before = 0, 0.0
  run_started = time.time()
  started_with = provenance()
  best_val = (best.read_meta()[f"val_{metric}"] if best.latest_step() is not None
              else method.worst())

  num_steps = config.train.num_steps
  if start >= num_steps and results_path.exists():
    return json.loads(results_path.read_text())
  if is_main:
    _truncate_metrics(workdir / "metrics.jsonl", start)
  writer = writers.MetricWriter(str(workdir), enabled=is_main)
  writer.write_hparams(checkpointing.flatten(config_dict))

  train_step = jax.jit(
      method.make_train_step(config, model),
      in_shardings=(state_sharding, batch_sharding, repl),
      out_shardings=(state_sharding, repl),
      donate_argnums=(0,),
  )
  eval_step = jax.jit(
      method.make_eval_step(config, model),
      in_shardings=(state_sharding, batch_sharding, repl),
      out_shardings=repl,
  )
  predict = jax.jit(method.make_predict(model))

  def evaluate(state, eval_batches) -> dict:
    sums = None
    for i, b in enumerate(eval_batches):
      batch = parallel.global_batch({k: b[k] for k in ("image", "label", "mask")}, mesh)
      out = eval_step(state, batch, jax.random.fold_in(eval_key, i))
      sums = out if sums is None else jax.tree.map(lambda a, b: a + b, sums, out)
    return evaluator.summarize(jax.device_get(sums))

  def write_pictures(state, step: int, eval_batches, split: str) -> list[str]:
    n = min(config.eval.num_pictures, len(eval_batches[0]["image"]))
    if not (is_main and n and method.save_pictures):
      return []
    params = jax.tree.map(lambda x: x.addressable_data(0), method.inference_params(state))
    images = eval_batches[0]["image"][:n]
    out = jax.device_get(predict(params, images, jax.random.fold_in(picture_key, step)))
    return method.save_pictures(
        config, out, images, eval_batches[0]["label"][:n],
        str(workdir / "pictures" / f"{split}_step{step:07d}"), step,
    )

  pending: list[tuple[int, dict]] = []
  last_good = {"step": start}

  def flush_train_metrics(step: int, elapsed: float, steps_timed: int) -> None:
    """Fetches buffered step metrics, stops on a non-finite loss, logs their mean."""
    if not pending:
      return
    host = jax.device_get(pending)
    pending.clear()
    for s, m in host:
      if not np.isfinite(m["loss/total"]):
        raise FloatingPointError(
            f"Non-finite loss at step {s}: "
            + ", ".join(f"{k}={float(v):.4g}" for k, v in sorted(m.items()))
            + f". The last checkpoint (step {last_good['step']}) predates it; lower "
            "optim.learning_rate or set optim.grad_clip_norm, then rerun to resume."
        )
    means = {f"train/{k}": float(np.mean([m[k] for _, m in host])) for k in host[0][1]}
    ips = steps_timed * config.train.batch_size / max(elapsed, 1e-9)
    means["train/images_per_sec"] = ips
    writer.write_scalars(step, means)
    eta = (num_steps - step) * config.train.batch_size / max(ips, 1e-9)
    shown = "  ".join(f"{k.split('/', 2)[-1]} {means[f'train/{k}']:.4g}"
                      for k in method.log_keys if f"train/{k}" in means)
    logging.info("step %d/%d  %s  %.0f img/s  ETA %s", step, num_steps, shown, ips,
                 time.strftime("%H:%M:%S", time.gmtime(eta)))

  def save(step: int) -> None:
    latest.save(step, state, {"step": step, "config": config_dict,
                              "train_seconds": wall_before + time.time() - run_started})
    last_good["step"] = step

  end = num_steps if max_steps_this_run is None else min(num_steps, start + max_steps_this_run)
  data = batching.train_dataset(batches, start, num_steps, config.data.prefetch)
  window_start, window_steps = time.time(), 0
  step = start
  with _StopRequest() as stop:
    while step < end:
      batch = parallel.global_batch(next(data), mesh)
      state, metrics = train_step(state, batch, train_key)
      step += 1
      window_steps += 1
      pending.append((step, metrics))
      stopping = (stop.requested if jax.process_count() == 1
                  else latest.reached_preemption(step))
      if step % config.log.every_steps == 0 or step == end or stopping:
        flush_train_metrics(step, time.time() - window_start, window_steps)
        window_start, window_steps = time.time(), 0
      if step % config.eval.every_steps == 0 or step == num_steps:
        flush_train_metrics(step, time.time() - window_start, window_steps)
        val = evaluate(state, val_batches)
        writer.write_scalars(step, {f"val/{k}": v for k, v in val.items()})
        logging.info("step %d  validation %s", step,
                     "  ".join(f"{k} {v:.4f}" for k, v in val.items()))
        if method.better(val[metric], best_val):
          best_val = val[metric]
          best.save(step, state, {"step": step, f"val_{metric}": best_val, "config": config_dict})
        write_pictures(state, step, val_batches, "validation")
        window_start, window_steps = time.time(), 0
      if step % config.ckpt.every_steps == 0 or step == end or stopping:
        flush_train_metrics(step, time.time() - window_start, window_steps)
        save(step)
      if stopping:
        logging.warning("Stopped at step %d; rerun the same command to resume.", step)
        break
  latest.wait()
  best.wait()
  writer.flush()

  results = {"step": step, "finished": step >= num_steps, "seed": config.seed,
             "train_seconds": wall_before + time.time() - run_started, **started_with,
             "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
  if step >= num_steps:
    results.update(_test_once(config, best, abstract, repl, evaluate, write_pictures, proc,
                              metric))
    writer.write_scalars(step, {f"test/{k}": v for k, v in results["test"].items()})
    if is_main:
      results_path.write_text(json.dumps(results, indent=1))
      logging.info("Test %s at validation-selected step %d.",
                   "  ".join(f"{k} {v:.4f}" for k, v in results["test"].items()),
                   results["selected_step"])
  writer.close()
  latest.close()
  best.close()
  return results


def _test_once(config, best, abstract, repl, evaluate, write_pictures, proc, metric) -> dict:
  """Scores the validation-selected checkpoint on the test split (the only test access)."""
  test_batches, num_test = pipeline.make_batches(
      config.data, "test", seed=config.seed, global_batch=config.eval.batch_size, **proc
  )
  state, meta = best.restore(checkpointing.abstract_like(abstract, repl))
  test = evaluate(state, test_batches)
  write_pictures(state, int(meta["step"]), test_batches, "test")
  return {
      **test,
      "test": test,
      "selected_step": int(meta["step"]),
      f"val_{metric}": float(meta[f"val_{metric}"]),
      "eval_rollouts": config.eval.get("num_rollouts"),
      "num_test": num_test,
  }


def load_trained(workdir: str):
  """(config, method, model, state, meta) of a workdir's validation-selected checkpoint (its
  best/ directory), else its latest one; on one device."""
  path = epath.Path(workdir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: --workdir must be a directory attn_rl.main wrote.")
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  with config.unlocked():
    config.mesh.data = 1
  method = method_lib.get(config.method)
  checkpointing.fill_added_keys(config, method.defaults())
  model = method.make_model(config, pipeline.num_classes(config.data))
  mesh = parallel.make_mesh(config.mesh)
  shape = pipeline.image_shape(config.data)
  abstract = jax.eval_shape(
      lambda k: method.init_state(config, model, k, shape), jax.random.key(0))
  for sub in ("best", "checkpoints"):
    ckpt = checkpointing.Checkpointer(os.path.join(workdir, sub), max_to_keep=2, async_save=False)
    if ckpt.latest_step() is not None:
      break
  else:
    raise FileNotFoundError(f"No checkpoint in {workdir}/best or {workdir}/checkpoints.")
  state, meta = ckpt.restore(checkpointing.abstract_like(abstract, parallel.replicated(mesh)))
  return config, method, model, state, meta
