"""Orbax checkpoints: one item per trainable group and frozen collection, plus JSON metadata.

Restores go against an abstract target (shapes, dtypes and shardings of a freshly
initialised state), so a checkpoint written on 8 devices restores on 1 and the reverse.
The metadata holds the config the checkpoint was written with; resuming under a config that
differs in anything but the keys of `RESUMABLE_CHANGES` is refused with the differences.

Layouts. Since `state_layout` 2 (the one-folder-per-method redesign) a frozen collection is
saved as its plain pytree; checkpoints written before stored it as a TrainState with an
identity optimizer (`step`, `params`, empty `opt_state`), and restore still reads those.
"""

from __future__ import annotations

import gc
import logging as std_logging
import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import optax
import orbax.checkpoint as ocp
from absl import logging
from flax import traverse_util
from flax.training import train_state

# Version of the item layout written by `Checkpointer.save` (module docstring).
STATE_LAYOUT = 2

# Keys (dotted prefixes) that may change between a checkpoint and the run resuming it.
RESUMABLE_CHANGES = (
    "log.", "ckpt.", "mesh.", "eval.every_steps", "eval.num_pictures", "data.tfds_data_dir",
    "data.prefetch",
    "model.sensor",  # The two sensors compute the same glimpses.
    "model.unroll",  # Rolled and unrolled glimpse loops compute the same episode.
    "train.seeds_mode",  # Both compile the same step over the seeds.
)
# Optimizer values that may change on resume (after a NaN, say), with the change recorded in
# metrics.jsonl as `config/<key>` at the resumed step. Clipping may change its threshold but
# not switch on or off: that changes the shape of the optimizer state.
TUNABLE_ON_RESUME = tuple(f"{g}.{k}" for g in ("optim", "optim.critic")
                          for k in ("learning_rate", "final_lr_fraction", "grad_clip_norm"))
# Schedules whose learning rate at a step does not depend on train.num_steps: with them (and
# only them) a run may be extended by resuming with a larger train.num_steps.
LENGTH_FREE_SCHEDULES = ("constant", "piecewise")
# Keys added after checkpoints were written without them -> the value that reproduces the
# old behaviour: a checkpoint lacking the key resumes when the run keeps that value (or when
# the key is in RESUMABLE_CHANGES), and `fill_added_keys` gives it to an old config.json.
ADDED_KEYS = {"optim.location_lr_scale": 1.0, "model.unroll": False, "train.num_seeds": 1,
              "train.seeds_mode": "vmap", "model.policy": "learned",
              "model.glimpse_norm_epsilon": 1e-6, "dreal.actor_delay_steps": 0,
              "dreal.redraw_every_steps": 1, "dreal.critic_hidden": 1, "model.init_from": ""}


class ConfigMismatchError(ValueError):
  """The workdir's checkpoint was written under a different config."""


class CheckpointDamagedError(RuntimeError):
  """No step of a checkpoint directory can be restored."""


def flatten(d: dict) -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}."""
  return traverse_util.flatten_dict(d, sep=".")


def _json_like(value):
  """Tuples come back from JSON as lists: compare them as lists."""
  return [_json_like(v) for v in value] if isinstance(value, list | tuple) else value


def fill_added_keys(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict):
  """Gives a config read from an older workdir's config.json the keys added since.

  Each key of `ADDED_KEYS` that the method's `defaults` have and `config` lacks gets its
  old-behaviour value, so the config builds the model that wrote the checkpoint.
  """
  for key, old in ADDED_KEYS.items():
    group, name = key.split(".")
    if group in defaults and name in defaults[group] and name not in config[group]:
      with config.unlocked():
        config[group][name] = old


def config_differences(saved: dict, current: dict, retired: tuple[str, ...] = ()) -> list[str]:
  """Differences that forbid resuming `saved`'s checkpoint under `current`.

  retired: keys the method no longer has (a redesign dropped them as unused): present in an
  old checkpoint's config and absent now, they are no difference.
  """
  return _compare(saved, current, retired)[0]


def _compare(saved: dict, current: dict, retired: tuple[str, ...]) -> tuple[list[str], dict]:
  """(differences that forbid resuming, {key: (old, new)} of the allowed changes worth
  recording: TUNABLE_ON_RESUME, a longer train.num_steps)."""
  a = {k: _json_like(v) for k, v in flatten(saved).items()}
  b = {k: _json_like(v) for k, v in flatten(current).items()}
  diffs, changes = [], {}
  length_free = all(b.get(k) in LENGTH_FREE_SCHEDULES
                    for k in ("optim.schedule", "optim.critic.schedule") if k in b)
  for key in sorted(set(a) | set(b)):
    old, new = a.get(key, "<absent>"), b.get(key, "<absent>")
    if key.startswith(RESUMABLE_CHANGES) or old == new:
      continue
    if key not in a and key in ADDED_KEYS and new == ADDED_KEYS[key]:
      continue
    if key not in b and key in retired:
      continue
    if key in TUNABLE_ON_RESUME and key in a and key in b:
      if key.endswith("grad_clip_norm") and bool(old) != bool(new):
        diffs.append(f"{key}: checkpoint {old!r}, now {new!r} (clipping can change its "
                     "threshold on resume but not switch on or off: the optimizer state "
                     "changes shape)")
      else:
        changes[key] = (old, new)
      continue
    if key == "train.num_steps" and key in a and key in b:
      if length_free and new > old:
        changes[key] = (old, new)
      else:
        diffs.append(f"{key}: checkpoint {old!r}, now {new!r} (a run can be extended only "
                     f"with schedules {' or '.join(LENGTH_FREE_SCHEDULES)}, whose rate does not "
                     "depend on the run's length; a cosine or exponential schedule would "
                     "change the rate of steps already taken: start a new --workdir)")
      continue
    diffs.append(f"{key}: checkpoint {old!r}, now {new!r}")
  return diffs, changes


class Checkpointer:
  """A CheckpointManager for `core.state.State`s."""

  def __init__(self, directory: str, *, max_to_keep: int, async_save: bool = True):
    self.directory = directory
    self._closed = False
    self.manager = ocp.CheckpointManager(
        directory if "://" in directory else os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save
        ),
    )

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, meta: dict, *, force: bool = True) -> None:
    items = {k: ocp.args.StandardSave(v) for k, v in state.items().items()}
    meta = {**meta, "state_layout": STATE_LAYOUT}
    self.manager.save(
        int(step), args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items), force=force
    )

  def read_meta(self, step: int | None = None) -> dict:
    step = self.latest_step() if step is None else step
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, abstract_state, step: int | None = None):
    """(state, meta) from `step` (default latest), placed as `abstract_state`'s shardings."""
    step = self.latest_step() if step is None else step
    old_layout = self.read_meta(step).get("state_layout", 1) < 2
    targets = dict(abstract_state.trainable)
    for name, tree in abstract_state.frozen.items():
      targets[name] = _as_old_train_state(tree) if old_layout else tree
    items = {k: ocp.args.StandardRestore(v) for k, v in targets.items()}
    restored = self.manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items)
    )
    # Restored leaves are arrays; static fields (apply_fn, tx) come from the abstract state.
    trainable = {
        k: v.replace(step=restored[k].step, params=restored[k].params,
                     opt_state=restored[k].opt_state)
        for k, v in abstract_state.trainable.items()
    }
    frozen = {k: restored[k].params if old_layout else restored[k]
              for k in abstract_state.frozen}
    return abstract_state.replace(trainable=trainable, frozen=frozen), restored["meta"]

  def check_config(self, config_dict: dict, retired: tuple[str, ...] = ()) -> dict:
    """Raises ConfigMismatchError listing what forbids resuming under `config_dict`; returns
    the allowed changes worth recording ({key: (old, new)})."""
    meta = self.newest_meta()
    if meta is None:
      return {}
    diffs, changes = _compare(meta.get("config", {}), config_dict, retired)
    if diffs:
      raise ConfigMismatchError(
          f"The checkpoint in {self.directory} was written under another config:\n  "
          + "\n  ".join(diffs)
          + "\nUse a new --workdir for the new config, or rerun with the checkpoint's config: "
          f"--config={os.path.join(os.path.dirname(self.directory.rstrip('/')), 'config.json')}"
          " (overrides of the keys above that may change still apply)."
      )
    return changes

  def newest_meta(self) -> dict | None:
    """The metadata of the newest step whose metadata reads (None: no step)."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        return self.read_meta(step)
      except Exception as e:  # noqa: BLE001 (any damage: missing or truncated files)
        logging.warning("Checkpoint %s/%d: its metadata does not read (%s: %s).",
                        self.directory, step, type(e).__name__, str(e)[:200])
    return None

  def restore_newest_intact(self, abstract_state):
    """(state, meta) of the newest step that restores.

    A step that does not restore (a truncated data file, missing or garbled metadata) is
    moved aside to `<step>.damaged`, with a warning naming it, and the next older one is
    tried: training resumes from the newest intact checkpoint and its steps are redone.
    Raises CheckpointDamagedError, naming every folder, when no step restores.
    """
    failures = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        restored = self.restore(abstract_state, step)
      except Exception as e:  # noqa: BLE001 (TensorStore, JSON, missing files: any damage)
        folder = os.path.join(self.directory, str(step))
        failures.append(f"{folder}: {type(e).__name__}: {str(e)[:300]}")
        logging.warning("Checkpoint %s does not restore (%s); moving it to %s.damaged and "
                        "trying the previous one.", folder, failures[-1], folder)
        self.set_aside(step, "damaged")
        continue
      if failures:
        _collect_failed_reads()
      return restored
    _collect_failed_reads()
    raise CheckpointDamagedError(
        f"No checkpoint in {self.directory} restores:\n  " + "\n  ".join(failures)
        + "\nThe damaged step folders were renamed to <step>.damaged. Rerun to train from "
        "scratch in this workdir (its metrics are redone), or restore the folders from a backup.")

  def set_aside(self, step: int, why: str) -> None:
    """Renames step's folder to `<step>.<why>` (a free name): no longer a step of the manager."""
    if "://" in self.directory:
      return  # Object stores: no rename; the step stays, and is skipped by the next restore.
    folder = os.path.join(self.directory, str(step))
    target = f"{folder}.{why}"
    n = 1
    while os.path.exists(target):
      target, n = f"{folder}.{why}{n}", n + 1
    os.rename(folder, target)
    self.manager.reload()

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(int(step))

  def close(self) -> None:
    """Waits for saves in flight and shuts the manager down (idempotent)."""
    if not self._closed:
      self._closed = True
      self.manager.wait_until_finished()
      self.manager.close()


def abstract_like(state, sharding):
  """ShapeDtypeStructs with `sharding` for every array leaf of `state`."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def _as_old_train_state(tree):
  """The abstract TrainState that layout-1 checkpoints saved a frozen collection as."""
  leaf = jax.tree.leaves(tree)[0]
  old = train_state.TrainState.create(apply_fn=None, params=tree, tx=optax.identity())
  return old.replace(step=jax.ShapeDtypeStruct((), jnp.int32, sharding=leaf.sharding))


def _collect_failed_reads() -> None:
  """A failed restore leaves Orbax's other read coroutines behind, each holding the read
  error; when garbage-collected, Python would print every one as 'Exception ignored', long
  after the warning above named the damage. Collect them now, without that noise."""
  previous = sys.unraisablehook
  sys.unraisablehook = lambda unraisable: None
  asyncio_log = std_logging.getLogger("asyncio")  # "Future exception was never retrieved"
  level = asyncio_log.level
  asyncio_log.setLevel(std_logging.CRITICAL)
  try:
    gc.collect()
  finally:
    sys.unraisablehook = previous
    asyncio_log.setLevel(level)
