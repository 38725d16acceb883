"""train_and_evaluate: build, resume, train, validate, checkpoint, and test once at the end.

Generic over the `Method` record (`core/method.py`): the method builds the model, state and
steps; its evaluator turns eval sums into metrics; its selection metric and direction pick the
checkpoint that is tested. Nothing here knows what the method computes.

Workdir layout (with train.num_seeds = N > 1: config.json here, and this layout in each
seed's folder seed_0/ .. seed_<N-1>/):
  config.json         the config of the latest start
  metrics.jsonl       one JSON object per log or evaluation (train/*, val/*, test/*)
  checkpoints/        latest Orbax checkpoints (resume from here)
  best/               the checkpoint with the best validation metric (model selection)
  pictures/           the method's pictures of validation images at each evaluation
  results.json        test metrics of the validation-selected checkpoint, written once
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from attn_rl.core import seeds as seeds_lib
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


@dataclasses.dataclass
class _Run:
  """One seed's run: its folder (a complete single-seed workdir), config and checkpoints."""

  config: ml_collections.ConfigDict
  path: epath.Path
  latest: checkpointing.Checkpointer
  best: checkpointing.Checkpointer
  config_dict: dict = dataclasses.field(default_factory=dict)
  changes: dict = dataclasses.field(default_factory=dict)
  writer: writers.MetricWriter | None = None
  best_val: float = float("nan")

  @property
  def results_path(self) -> epath.Path:
    return self.path / "results.json"


def seed_config(config, index: int) -> ml_collections.ConfigDict:
  """The single-seed config of seed `index` of a multi-seed run (seed `seed + index`): the
  config its folder records, with which the folder resumes alone too."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.seed = config.seed + index
    c.train.num_seeds = 1
    c.mesh.seeds = 1
  return c


# LLVM's optimisation level for the program that draws the initial state, on CPU. It runs once,
# and at XLA's default (-O2) LLVM spends most of its compile on the random draws: -O1 compiled
# every method's quicktest initialisation 1.4x to 5x faster (dreal 23.3 s -> 8.6 s, reid 20.3 s
# -> 7.3 s, dram 16.0 s -> 5.1 s; AMD EPYC, 2026-12-06) and gave the same state bit for bit
# (tests/core_test.py).
INIT_CPU_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


def initial_state(init_fn, key, out_shardings):
  """jit(init_fn)(key), its one-off program compiled cheaply on CPU (above)."""
  lowered = jax.jit(init_fn, out_shardings=out_shardings).lower(key)
  options = INIT_CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" else {}
  return lowered.compile(compiler_options=options)(key)


def _has_checkpoint(path: epath.Path) -> bool:
  folder = path / "checkpoints"
  return folder.exists() and any(p.name.isdigit() for p in folder.iterdir())


def _check_seed_layout(path: epath.Path, num_seeds: int) -> None:
  """Refuses to resume a workdir trained with another train.num_seeds."""
  saved = path / "config.json"
  before = json.loads(saved.read_text())["train"].get("num_seeds", 1) if saved.exists() else None
  top = _has_checkpoint(path)
  in_seed_folders = any(_has_checkpoint(p) for p in path.glob("seed_*"))
  mismatch = (before not in (None, num_seeds) or (num_seeds > 1 and top)
              or (num_seeds == 1 and in_seed_folders))
  if (top or in_seed_folders) and mismatch:
    raise checkpointing.ConfigMismatchError(
        f"{path} holds a run of train.num_seeds={before or '?'}, now {num_seeds}: the number of "
        "seeds cannot change on resume. Rerun with "
        f"--config.train.num_seeds={before or '<the old value>'}, or use a new --workdir.")


def train_and_evaluate(config, workdir: str, *, max_steps_this_run: int | None = None) -> dict:
  """Trains config.method; returns the final results (also in workdir/results.json).

  Rerunning with the same workdir resumes from the latest intact checkpoint; a run that
  finished returns its stored results. `max_steps_this_run` stops (with a checkpoint) after
  that many steps, for jobs with a time limit; the next call continues. A SIGINT or SIGTERM
  checkpoints and returns with `results['stopped']` set (`attn_rl.main` then exits with
  EXIT_STOPPED); a second one raises StoppedError at once. Only one run may use a workdir at
  a time (`core/workdir.py`).

  With `train.num_seeds` = N > 1 the N seeds train together, one vmapped step over their
  stacked states; seed k's folder `workdir/seed_<k>/` holds what a single-seed run of seed
  `seed + k` writes (its own metrics, validation-selected checkpoint and test score), and
  the results are {'seeds': [each seed's results], 'finished', 'stopped', 'step'}.
  """
  method = method_lib.get(config.method).for_config(config)
  method.validate(config)
  if max_steps_this_run is not None and max_steps_this_run < 1:
    raise ValueError(f"--max_steps_this_run={max_steps_this_run} must be at least 1 (leave it "
                     "out to train to train.num_steps).")
  num_seeds = config.train.get("num_seeds", 1)
  mesh = parallel.make_mesh(config.mesh)
  parallel.check_divisible(config.train.batch_size, mesh, "train.batch_size")
  parallel.check_divisible(config.eval.batch_size, mesh, "eval.batch_size")
  parallel.check_seeds(num_seeds, mesh)
  is_main = jax.process_index() == 0
  # Local or remote (gs://...: needs `pip install '.[gcs]'`); every file goes through epath.
  path = epath.Path(workdir)
  path.mkdir(parents=True, exist_ok=True)
  with contextlib.ExitStack() as stack:
    stack.enter_context(workdir_lib.exclusive(str(workdir), enabled=is_main))
    stop = stack.enter_context(_StopRequest())
    _check_seed_layout(path, num_seeds)
    runs = []
    for k in range(num_seeds):
      run_path = path if num_seeds == 1 else path / f"seed_{k}"
      if num_seeds > 1:
        run_path.mkdir(exist_ok=True)
        stack.enter_context(workdir_lib.exclusive(str(run_path), enabled=is_main))
      # Checkpoints first: a config mismatch should fail before minutes of data loading.
      runs.append(_Run(
          config=config if num_seeds == 1 else seed_config(config, k), path=run_path,
          latest=checkpointing.Checkpointer(str(run_path / "checkpoints"),
                                            max_to_keep=config.ckpt.max_to_keep),
          best=checkpointing.Checkpointer(str(run_path / "best"), max_to_keep=1)))
      # On every exit path: saves in flight finish, then the managers shut down.
      stack.callback(runs[-1].latest.close)
      stack.callback(runs[-1].best.close)
    return _train_and_evaluate(config, method, mesh, path, runs, stop, max_steps_this_run)


def _restore_common_step(runs: list[_Run], abstract):
  """[(state, meta)] of every seed at the newest step they all restore.

  The seeds of a run save at the same steps; a kill between their saves leaves some a step
  ahead: those go back to the common step (their newer step is set aside as
  `<step>.ahead`, and redone exactly).
  """
  missing = [str(r.path) for r in runs if r.latest.latest_step() is None]
  if missing:
    raise checkpointing.CheckpointDamagedError(
        f"{', '.join(missing)} hold no checkpoint while the other seeds' folders do: the run's "
        "first save was cut short. Delete the workdir to train from scratch.")
  restored = [r.latest.restore_newest_intact(abstract) for r in runs]
  common = min(int(meta["step"]) for _, meta in restored)
  for i, (r, (_, meta)) in enumerate(zip(runs, restored, strict=True)):
    if int(meta["step"]) == common:
      continue
    if common not in r.latest.manager.all_steps():
      raise checkpointing.CheckpointDamagedError(
          f"{r.path} has no checkpoint of step {common}, where the other seeds are: raise "
          "ckpt.max_to_keep above 1 to survive a kill between the seeds' saves; delete the "
          "workdir to train from scratch.")
    for step in r.latest.manager.all_steps():
      if step > common:
        r.latest.set_aside(step, "ahead")
    restored[i] = r.latest.restore(abstract, common)
  return restored


def _train_and_evaluate(config, method, mesh, workdir: epath.Path, runs: list[_Run], stop,
                        max_steps_this_run):
  evaluator = evaluators.get(method.evaluator)
  metric = method.selection_metric
  is_main = jax.process_index() == 0
  proc = dict(process_index=jax.process_index(), process_count=jax.process_count())
  num_seeds = len(runs)
  multi = num_seeds > 1
  for r in runs:
    r.config_dict = r.config.to_dict()
    r.changes = r.latest.check_config(r.config_dict, method.retired_keys)
  if is_main:
    (workdir / "config.json").write_text(json.dumps(config.to_dict(), indent=1, default=str))
    if multi:
      for r in runs:
        (r.path / "config.json").write_text(json.dumps(r.config_dict, indent=1, default=str))

  seeds = [r.config.seed for r in runs]
  batches, _ = pipeline.make_batches(
      config.data, "train", seed=seeds if multi else config.seed,
      global_batch=config.train.batch_size, **proc)
  val_batches, _ = pipeline.make_batches(
      config.data, "validation", seed=config.seed, global_batch=config.eval.batch_size, **proc
  )
  # Read now, though scored only at the end: a damaged test file fails before training.
  test_batches = pipeline.make_batches(
      config.data, "test", seed=config.seed, global_batch=config.eval.batch_size, **proc)

  model = method.make_model(config, pipeline.num_classes(config.data))
  run_keys = lambda seed: jax.random.split(jax.random.key(seed), 4)
  if multi:  # [seeds] each: under vmap jax.random draws exactly what it draws per seed.
    keys = jax.vmap(run_keys)(jnp.asarray(seeds))
    init_key, train_key, eval_key, picture_key = (keys[:, i] for i in range(4))
  else:
    init_key, train_key, eval_key, picture_key = run_keys(config.seed)
  # One seed: functions as the method wrote them. Several: over a leading seed axis.
  mode = config.train.get("seeds_mode", "vmap")
  over_seeds = lambda f, in_axes=0: seeds_lib.over_seeds(f, num_seeds, in_axes=in_axes,
                                                         mode=mode)
  repl = parallel.replicated(mesh)
  per_seed = parallel.seed_stacked(mesh) if multi else repl
  train_batch_sharding = (parallel.seed_batch_sharded(mesh) if multi
                          else parallel.batch_sharded(mesh))
  init_fn = lambda key: method.init_state(config, model, key, pipeline.image_shape(config.data))
  abstract = jax.eval_shape(init_fn, jax.random.key(0))
  abstract_one = checkpointing.abstract_like(abstract, repl)  # One seed's, as saved.
  # Every leaf of the state alike (a prefix of the whole tree: no optimizer objects in it).
  state_sharding = per_seed
  # Seed k's slice, replicated (what its folder saves), and the stack of the seeds' states.
  take = jax.jit(lambda tree, k: jax.tree.map(lambda x: x[k], tree), out_shardings=repl)
  seed_slice = lambda tree, k: take(tree, k) if multi else tree
  stack = jax.jit(lambda *trees: jax.tree.map(lambda *xs: jnp.stack(xs), *trees),
                  out_shardings=state_sharding)
  stacked = lambda states: stack(*states) if multi else states[0]

  evaluate_first = False
  if any(r.latest.latest_step() is not None for r in runs):
    restored = (_restore_common_step(runs, abstract_one) if multi
                else [runs[0].latest.restore_newest_intact(abstract_one)])
    state = stacked([s for s, _ in restored])
    meta = restored[0][1]
    start = int(meta["step"])
    wall_before = float(meta.get("train_seconds", 0.0))
    # A stop cut this step's validation short: it runs before training goes on.
    evaluate_first = any(bool(m.get("evaluate_first", False)) for _, m in restored)
    logging.info("Resumed from step %d in %s.", start, workdir)
  else:
    state = initial_state(over_seeds(init_fn), init_key, state_sharding)
    if method.warm_start is not None:
      state = method.warm_start(config, state)
    start, wall_before = 0, 0.0
  run_started = time.time()
  started_with = provenance()
  for r in runs:
    best_meta = r.best.newest_meta()
    r.best_val = best_meta[f"val_{metric}"] if best_meta else method.worst()

  num_steps = config.train.num_steps
  if start >= num_steps and all(r.results_path.exists() for r in runs):
    return _combine([json.loads(r.results_path.read_text()) for r in runs], multi)
  for r in runs:
    if is_main:
      _truncate_metrics(r.path / "metrics.jsonl", start, keep_eval_at_start=not evaluate_first)
    r.writer = writers.MetricWriter(str(r.path), enabled=is_main)
    r.writer.write_hparams(checkpointing.flatten(r.config_dict))
    if r.changes:
      # Values changed on resume (learning rate, clipping, a longer run): kept in the record.
      r.writer.write_scalars(start, {f"config/{k}": float(new)
                                     for k, (_, new) in r.changes.items()})
  if runs[0].changes:
    logging.warning("Resumed with changed %s.", ", ".join(
        f"{k} ({old} -> {new})" for k, (old, new) in runs[0].changes.items()))

  train_step = jax.jit(
      over_seeds(method.make_train_step(config, model)),
      in_shardings=(state_sharding, train_batch_sharding, per_seed),
      out_shardings=(state_sharding, per_seed),
      donate_argnums=(0,),
  )
  # Every seed scores the same evaluation batch.
  eval_step = jax.jit(
      over_seeds(method.make_eval_step(config, model), in_axes=(0, None, 0)),
      in_shardings=(state_sharding, parallel.batch_sharded(mesh), per_seed),
      out_shardings=per_seed,
  )
  predict = jax.jit(method.make_predict(model))
  all_finite = jax.jit(over_seeds(lambda s: jnp.all(jnp.stack(
      [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(s.trainable)]))))
  # Seed k's slice of host metrics (one seed: the metrics themselves).
  of_seed = lambda tree, k: jax.tree.map(lambda x: x[k], tree) if multi else tree
  named = lambda k: f"seed {seeds[k]} ({runs[k].path.name}): " if multi else ""

  def evaluate(state, eval_batches, interruptible: bool = False) -> list[dict] | None:
    """Each seed's evaluator metrics over the batches; None if a stop request came in between
    batches.

    Every batch gets the same key: the eval step draws per example, from its `index`, so the
    metrics do not depend on eval.batch_size or the device count.
    """
    acc = None
    for b in eval_batches:
      if interruptible and stop.requested:
        return None
      # Every field the split has (retrieval batches add cameras and query flags).
      batch = parallel.global_batch(dict(b), mesh)
      acc = evaluator.accumulate(acc, eval_step(state, batch, eval_key))
    acc = jax.device_get(acc)
    return [evaluator.summarize(of_seed(acc, k)) for k in range(num_seeds)]

  def write_pictures(state, steps: list[int], eval_batches, split: str) -> None:
    n = min(config.eval.num_pictures, len(eval_batches[0]["image"]))
    if not (is_main and n and method.save_pictures):
      return
    images = eval_batches[0]["image"][:n]
    for k, (r, step) in enumerate(zip(runs, steps, strict=True)):
      params = jax.tree.map(lambda x: x.addressable_data(0),
                            method.inference_params(seed_slice(state, k)))
      key = jax.random.fold_in(picture_key[k] if multi else picture_key, step)
      out = jax.device_get(predict(params, images, key))
      method.save_pictures(
          r.config, out, images, eval_batches[0]["label"][:n],
          str(r.path / "pictures" / f"{split}_step{step:07d}"), step,
      )

  pending: list[tuple[int, dict]] = []
  # The newest step saved in checkpoints/ (None: none yet), for the NaN message.
  last_good = {"step": start if runs[0].latest.latest_step() is not None else None}

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

  # Wall clock and step after the first flush (compilation done), for the ETA.
  pace = {"since": None, "from_step": None}

  def flush_train_metrics(step: int, window_start: float, steps_timed: int) -> None:
    """Fetches buffered step metrics, stops on a non-finite loss, logs their mean."""
    if not pending:
      return
    # The steps were dispatched asynchronously: the window ends once their metrics are on the
    # host, that is once the device has run them, not when the last one was dispatched.
    host = jax.device_get(pending)
    now = time.time()
    elapsed = now - window_start
    pending.clear()
    # Each seed's images/s: a seed's run reads as it would alone (N seeds: N times that).
    ips = steps_timed * config.train.batch_size / max(elapsed, 1e-9)
    # The ETA goes by the wall clock since the first flush, validation and checkpoints
    # included; until a second flush, by this window's pace.
    if pace["since"] is None:
      pace.update(since=now, from_step=step)
    if step > pace["from_step"]:
      eta = (num_steps - step) * (now - pace["since"]) / (step - pace["from_step"])
    else:
      eta = (num_steps - step) * config.train.batch_size / max(ips, 1e-9)
    for k, r in enumerate(runs):
      mine = [(s, of_seed(m, k)) for s, m in host]
      for s, m in mine:
        if not np.isfinite(m["loss/total"]):
          raise non_finite(f"{named(k)}Non-finite loss at step {s}: " + ", ".join(
              f"{key}={float(v):.4g}" for key, v in sorted(m.items())) + ".")
      means = {f"train/{key}": float(np.mean([m[key] for _, m in mine])) for key in mine[0][1]}
      means["train/images_per_sec"] = ips
      r.writer.write_scalars(step, means)
      shown = "  ".join(f"{key.split('/', 2)[-1]} {means[f'train/{key}']:.4g}"
                        for key in method.log_keys if f"train/{key}" in means)
      logging.info("%sstep %d/%d  %s  %.0f img/s  ETA %s", named(k), step, num_steps, shown,
                   ips * num_seeds, time.strftime("%H:%M:%S", time.gmtime(eta)))

  def save(step: int, **extra) -> None:
    finite = np.atleast_1d(jax.device_get(all_finite(state)))
    if not finite.all():
      raise non_finite(", ".join(named(int(k)) for k in np.flatnonzero(~finite))
                       + f"Non-finite parameters after step {step}; not saved.")
    train_seconds = wall_before + time.time() - run_started
    for k, r in enumerate(runs):
      # Every metric up to this checkpoint is on disk before it is: a kill loses none of them.
      r.writer.flush()
      r.latest.save(step, seed_slice(state, k), {
          "step": step, "config": r.config_dict, "train_seconds": train_seconds, **extra})
    last_good["step"] = step

  def validate(step: int) -> bool:
    """Validates, keeps each seed's best checkpoint, draws; False if a stop request cut it
    short."""
    vals = evaluate(state, val_batches, interruptible=True)
    if vals is None:
      return False
    for k, (r, val) in enumerate(zip(runs, vals, strict=True)):
      r.writer.write_scalars(step, {f"val/{key}": v for key, v in val.items()})
      logging.info("%sstep %d  validation %s", named(k), step,
                   "  ".join(f"{key} {v:.4f}" for key, v in val.items()))
      if method.better(val[metric], r.best_val):
        r.best_val = val[metric]
        r.writer.flush()
        r.best.save(step, seed_slice(state, k),
                    {"step": step, f"val_{metric}": r.best_val, "config": r.config_dict})
    write_pictures(state, [step] * num_seeds, val_batches, "validation")
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
      batch = parallel.global_batch(next(data), mesh, train_batch_sharding)
      state, metrics = train_step(state, batch, train_key)
      step += 1
      window_steps += 1
      pending.append((step, metrics))
      stopping = (stop.requested if jax.process_count() == 1
                  else runs[0].latest.reached_preemption(step))
      if step % config.log.every_steps == 0 or step == end or stopping:
        flush_train_metrics(step, window_start, window_steps)
        window_start, window_steps = time.time(), 0
      validated = True
      if step % config.eval.every_steps == 0 or step == num_steps:
        flush_train_metrics(step, window_start, window_steps)
        validated = validate(step)
        stopping = stopping or not validated
        window_start, window_steps = time.time(), 0
      if step % config.ckpt.every_steps == 0 or step == end or stopping:
        flush_train_metrics(step, window_start, window_steps)
        save(step, evaluate_first=not validated)
      stopped = stopping
  finally:
    # Every exit path, an error included, lets the saves in flight finish.
    for r in runs:
      r.latest.wait()
      r.best.wait()
      r.writer.flush()
  if stopped:
    logging.warning("Stopped at step %d; rerun the same command to resume.", step)

  finished = step >= num_steps and not stopped
  # Trained inside a run of several seeds: the record says so (`num_seeds`).
  results = [{"step": step, "finished": finished, "seed": r.config.seed, "stopped": stopped,
              "train_seconds": wall_before + time.time() - run_started,
              **({"num_seeds": num_seeds} if multi else {}), **started_with,
              "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")} for r in runs]
  if finished:
    tests = _test_once(config, runs, abstract_one, stacked, evaluate, write_pictures,
                       test_batches, metric)
    for k, (r, res) in enumerate(zip(runs, results, strict=True)):
      res.update(tests[k])
      r.writer.write_scalars(step, {f"test/{key}": v for key, v in res["test"].items()})
      if is_main:
        r.results_path.write_text(json.dumps(res, indent=1))
      logging.info("%sTest %s at validation-selected step %d.", named(k),
                   "  ".join(f"{key} {v:.4f}" for key, v in res["test"].items()),
                   res["selected_step"])
  for r in runs:
    r.writer.close()
  return _combine(results, multi)


def _combine(results: list[dict], multi: bool) -> dict:
  """One seed: its results. Several: {'seeds': [...], 'finished', 'stopped', 'step'}."""
  if not multi:
    return results[0]
  return {"seeds": results, "step": min(r["step"] for r in results),
          "finished": all(r["finished"] for r in results),
          "stopped": any(r.get("stopped", False) for r in results)}


def _test_once(config, runs, abstract, stacked, evaluate, write_pictures, test_split, metric
               ) -> list[dict]:
  """Scores each seed's validation-selected checkpoint on the test split (the only test
  access)."""
  test_batches, num_test = test_split
  restored = [r.best.restore_newest_intact(abstract) for r in runs]
  state = stacked([s for s, _ in restored])
  tests = evaluate(state, test_batches)
  steps = [int(meta["step"]) for _, meta in restored]
  write_pictures(state, steps, test_batches, "test")
  return [{
      **test,
      "test": test,
      "selected_step": step,
      f"val_{metric}": float(meta[f"val_{metric}"]),
      "eval_rollouts": config.eval.get("num_rollouts"),
      "num_test": num_test,
  } for test, step, (_, meta) in zip(tests, steps, restored, strict=True)]


def load_trained(workdir: str):
  """(config, method, model, state, meta) of a workdir's validation-selected checkpoint (its
  best/ directory), else its latest one; on one device."""
  path = epath.Path(workdir) / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: --workdir must be a directory attn_rl.main wrote.")
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  if config.train.get("num_seeds", 1) > 1:
    raise FileNotFoundError(
        f"{workdir} holds a run of {config.train.num_seeds} seeds: pass one seed's folder, "
        f"{os.path.join(workdir, 'seed_0')} to seed_{config.train.num_seeds - 1}.")
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
