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
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from attn_rl.core import checkpointing, evaluators, parallel
from attn_rl.core import method as method_lib
from attn_rl.core import metric_writers as writers
from attn_rl.core import workdir as workdir_lib
from attn_rl.core.provenance import provenance
from attn_rl.data import batching, pipeline

# Exit status of `attn_rl.main` when a signal stopped the run before its last step (after
# saving a checkpoint at the step reached, or, on a second signal, at once with the last saved
# checkpoint intact): rerun the same command to resume. EX_TEMPFAIL of sysexits.h.
EXIT_STOPPED = 75


class StoppedError(Exception):
  """A second SIGINT/SIGTERM: stop at once (the last saved checkpoint stays intact)."""


class _StopRequest:
  """SIGINT/SIGTERM set `requested`: the loop checkpoints and returns at the next step (or
  between evaluation batches). A second signal raises StoppedError at once."""

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
    if self.requested:
      raise StoppedError(f"Second signal {signum}: stopping at once.")
    logging.warning("Received signal %d: checkpointing and stopping (a second one stops at "
                    "once).", signum)
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def _truncate_metrics(path: epath.Path, last_step: int, keep_eval_at_start: bool = True) -> None:
  """Drops records logged after the checkpoint we resume from (they will be redone), and
  its step's validation record if that validation is to be redone."""
  if path.exists():
    redo = lambda r: not keep_eval_at_start and r["step"] == last_step and any(
        k.startswith(("val/", "test/")) for k in r)
    kept = [r for r in writers.read_jsonl(path) if r["step"] <= last_step and not redo(r)]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


def train_and_evaluate(config, workdir: str, *, max_steps_this_run: int | None = None) -> dict:
  """Trains config.method; returns the final results (also in workdir/results.json).

  Rerunning with the same workdir resumes from the latest intact checkpoint; a run that
  finished returns its stored results. `max_steps_this_run` stops (with a checkpoint) after
  that many steps, for jobs with a time limit; the next call continues. A SIGINT or SIGTERM
  checkpoints and returns with `results['stopped']` set (`attn_rl.main` then exits with
  EXIT_STOPPED); a second one raises StoppedError at once. Only one run may use a workdir at
  a time (`core/workdir.py`).
  """
  method = method_lib.get(config.method)
  method.validate(config)
  if max_steps_this_run is not None and max_steps_this_run < 1:
    raise ValueError(f"--max_steps_this_run={max_steps_this_run} must be at least 1 (leave it "
                     "out to train to train.num_steps).")
  mesh = parallel.make_mesh(config.mesh)
  parallel.check_divisible(config.train.batch_size, mesh, "train.batch_size")
  parallel.check_divisible(config.eval.batch_size, mesh, "eval.batch_size")
  is_main = jax.process_index() == 0
  # Local or remote (gs://...: needs `pip install '.[gcs]'`); every file goes through epath.
  path = epath.Path(workdir)
  path.mkdir(parents=True, exist_ok=True)
  with workdir_lib.exclusive(str(workdir), enabled=is_main), _StopRequest() as stop:
    # Checkpoints first: a config mismatch should fail before minutes of data loading.
    latest = checkpointing.Checkpointer(
        str(path / "checkpoints"), max_to_keep=config.ckpt.max_to_keep)
    best = checkpointing.Checkpointer(str(path / "best"), max_to_keep=1)
    try:
      return _train_and_evaluate(config, method, mesh, path, stop, max_steps_this_run,
                                 latest, best)
    finally:
      # On every exit path: saves in flight finish, then the managers shut down.
      latest.close()
      best.close()


def _train_and_evaluate(config, method, mesh, workdir: epath.Path, stop, max_steps_this_run,
                        latest, best):
  evaluator = evaluators.get(method.evaluator)
  metric = method.selection_metric
  is_main = jax.process_index() == 0
  proc = dict(process_index=jax.process_index(), process_count=jax.process_count())
  results_path = workdir / "results.json"
  config_dict = config.to_dict()
  changes = latest.check_config(config_dict, method.retired_keys)
  if is_main:
    (workdir / "config.json").write_text(json.dumps(config_dict, indent=1, default=str))

  batches, _ = pipeline.make_batches(
      config.data, "train", seed=config.seed, global_batch=config.train.batch_size, **proc
  )
  val_batches, _ = pipeline.make_batches(
      config.data, "validation", seed=config.seed, global_batch=config.eval.batch_size, **proc
  )
  # Read now, though scored only at the end: a damaged test file fails before training.
  test_batches = pipeline.make_batches(
      config.data, "test", seed=config.seed, global_batch=config.eval.batch_size, **proc)

  model = method.make_model(config, pipeline.num_classes(config.data))
  init_key, train_key, eval_key, picture_key = jax.random.split(jax.random.key(config.seed), 4)
  repl = parallel.replicated(mesh)
  batch_sharding = parallel.batch_sharded(mesh)
  init_fn = lambda key: method.init_state(config, model, key, pipeline.image_shape(config.data))
  abstract = jax.eval_shape(init_fn, init_key)
  state_sharding = jax.tree.map(lambda _: repl, abstract)

  evaluate_first = False
  if latest.latest_step() is not None:
    state, meta = latest.restore_newest_intact(checkpointing.abstract_like(abstract, repl))
    start = int(meta["step"])
    wall_before = float(meta.get("train_seconds", 0.0))
    # A stop cut this step's validation short: it runs before training goes on.
    evaluate_first = bool(meta.get("evaluate_first", False))
    logging.info("Resumed from step %d in %s.", start, workdir)
  else:
    state = jax.jit(init_fn, out_shardings=state_sharding)(init_key)
    start, wall_before = 0, 0.0
  run_started = time.time()
  started_with = provenance()
  best_meta = best.newest_meta()
  best_val = best_meta[f"val_{metric}"] if best_meta else method.worst()

  num_steps = config.train.num_steps
  if start >= num_steps and results_path.exists():
    return json.loads(results_path.read_text())
  if is_main:
    _truncate_metrics(workdir / "metrics.jsonl", start, keep_eval_at_start=not evaluate_first)
  writer = writers.MetricWriter(str(workdir), enabled=is_main)
  writer.write_hparams(checkpointing.flatten(config_dict))
  if changes:
    # Values changed on resume (learning rate, clipping, a longer run): kept in the record.
    writer.write_scalars(start, {f"config/{k}": float(new) for k, (_, new) in changes.items()})
    logging.warning("Resumed with changed %s.", ", ".join(
        f"{k} ({old} -> {new})" for k, (old, new) in changes.items()))

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
  all_finite = jax.jit(lambda s: jnp.all(jnp.stack(
      [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(s.trainable)])))

  def evaluate(state, eval_batches, interruptible: bool = False) -> dict | None:
    """Evaluator metrics over the batches; None if a stop request came in between batches.

    Every batch gets the same key: the eval step draws per example, from its `index`, so the
    metrics do not depend on eval.batch_size or the device count.
    """
    sums = None
    for b in eval_batches:
      if interruptible and stop.requested:
        return None
      batch = parallel.global_batch({k: b[k] for k in ("image", "label", "mask", "index")},
                                    mesh)
      out = eval_step(state, batch, eval_key)
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
  # The newest step saved in checkpoints/ (None: none yet), for the NaN message.
  last_good = {"step": start if latest.latest_step() is not None else None}

  def non_finite(what: str) -> FloatingPointError:
    saved = last_good["step"]
    if saved is None:
      where = ("No checkpoint was saved yet: rerun with a lower --config.optim.learning_rate "
               "(or a --config.optim.grad_clip_norm) to start again.")
    else:
      where = (f"The last checkpoint (step {saved}) predates it: rerun the same command with "
               "a lower --config.optim.learning_rate (or another nonzero "
               "--config.optim.grad_clip_norm) to resume from there with the new value.")
    return FloatingPointError(f"{what} {where}")

  def flush_train_metrics(step: int, elapsed: float, steps_timed: int) -> None:
    """Fetches buffered step metrics, stops on a non-finite loss, logs their mean."""
    if not pending:
      return
    host = jax.device_get(pending)
    pending.clear()
    for s, m in host:
      if not np.isfinite(m["loss/total"]):
        raise non_finite(f"Non-finite loss at step {s}: " + ", ".join(
            f"{k}={float(v):.4g}" for k, v in sorted(m.items())) + ".")
    means = {f"train/{k}": float(np.mean([m[k] for _, m in host])) for k in host[0][1]}
    ips = steps_timed * config.train.batch_size / max(elapsed, 1e-9)
    means["train/images_per_sec"] = ips
    writer.write_scalars(step, means)
    eta = (num_steps - step) * config.train.batch_size / max(ips, 1e-9)
    shown = "  ".join(f"{k.split('/', 2)[-1]} {means[f'train/{k}']:.4g}"
                      for k in method.log_keys if f"train/{k}" in means)
    logging.info("step %d/%d  %s  %.0f img/s  ETA %s", step, num_steps, shown, ips,
                 time.strftime("%H:%M:%S", time.gmtime(eta)))

  def save(step: int, **extra) -> None:
    if not bool(all_finite(state)):
      raise non_finite(f"Non-finite parameters after step {step}; not saved.")
    # Every metric up to this checkpoint is on disk before it is: a kill loses none of them.
    writer.flush()
    latest.save(step, state, {"step": step, "config": config_dict,
                              "train_seconds": wall_before + time.time() - run_started, **extra})
    last_good["step"] = step

  def validate(step: int) -> bool:
    """Validates, keeps the best checkpoint, draws; False if a stop request cut it short."""
    nonlocal best_val
    val = evaluate(state, val_batches, interruptible=True)
    if val is None:
      return False
    writer.write_scalars(step, {f"val/{k}": v for k, v in val.items()})
    logging.info("step %d  validation %s", step,
                 "  ".join(f"{k} {v:.4f}" for k, v in val.items()))
    if method.better(val[metric], best_val):
      best_val = val[metric]
      writer.flush()
      best.save(step, state, {"step": step, f"val_{metric}": best_val, "config": config_dict})
    write_pictures(state, step, val_batches, "validation")
    return True

  end = num_steps if max_steps_this_run is None else min(num_steps, start + max_steps_this_run)
  step = start
  stopped = False
  try:
    # The checkpoint keeps its flag until the next save: a kill before then validates again.
    if evaluate_first and not validate(step):
      stopped = True
    data = batching.train_dataset(batches, start, num_steps, config.data.prefetch)
    window_start, window_steps = time.time(), 0
    while step < end and not stopped:
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
      validated = True
      if step % config.eval.every_steps == 0 or step == num_steps:
        flush_train_metrics(step, time.time() - window_start, window_steps)
        validated = validate(step)
        stopping = stopping or not validated
        window_start, window_steps = time.time(), 0
      if step % config.ckpt.every_steps == 0 or step == end or stopping:
        flush_train_metrics(step, time.time() - window_start, window_steps)
        save(step, evaluate_first=not validated)
      stopped = stopping
  finally:
    # Every exit path, an error included, lets the saves in flight finish.
    latest.wait()
    best.wait()
    writer.flush()
  if stopped:
    logging.warning("Stopped at step %d; rerun the same command to resume.", step)

  results = {"step": step, "finished": step >= num_steps and not stopped, "seed": config.seed,
             "stopped": stopped, "train_seconds": wall_before + time.time() - run_started,
             **started_with, "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
  if results["finished"]:
    results.update(_test_once(config, best, abstract, repl, evaluate, write_pictures,
                              test_batches, metric))
    writer.write_scalars(step, {f"test/{k}": v for k, v in results["test"].items()})
    if is_main:
      results_path.write_text(json.dumps(results, indent=1))
      logging.info("Test %s at validation-selected step %d.",
                   "  ".join(f"{k} {v:.4f}" for k, v in results["test"].items()),
                   results["selected_step"])
  writer.close()
  return results


def _test_once(config, best, abstract, repl, evaluate, write_pictures, test_split, metric
               ) -> dict:
  """Scores the validation-selected checkpoint on the test split (the only test access)."""
  test_batches, num_test = test_split
  state, meta = best.restore_newest_intact(checkpointing.abstract_like(abstract, repl))
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
