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

import os

import jax
import jax.numpy as jnp
import ml_collections
import optax
import orbax.checkpoint as ocp
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
)
# Keys added after checkpoints were written without them -> the value that reproduces the
# old behaviour: a checkpoint lacking the key resumes when the run keeps that value (or when
# the key is in RESUMABLE_CHANGES), and `fill_added_keys` gives it to an old config.json.
ADDED_KEYS = {"optim.location_lr_scale": 1.0, "model.unroll": False}


class ConfigMismatchError(ValueError):
  """The workdir's checkpoint was written under a different config."""


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
  a = {k: _json_like(v) for k, v in flatten(saved).items()}
  b = {k: _json_like(v) for k, v in flatten(current).items()}
  diffs = []
  for key in sorted(set(a) | set(b)):
    if key.startswith(RESUMABLE_CHANGES) or a.get(key) == b.get(key):
      continue
    if key not in a and key in ADDED_KEYS and b.get(key) == ADDED_KEYS[key]:
      continue
    if key not in b and key in retired:
      continue
    diffs.append(f"{key}: checkpoint {a.get(key, '<absent>')!r}, now {b.get(key, '<absent>')!r}")
  return diffs


class Checkpointer:
  """A CheckpointManager for `core.state.State`s."""

  def __init__(self, directory: str, *, max_to_keep: int, async_save: bool = True):
    self.directory = directory
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

  def check_config(self, config_dict: dict, retired: tuple[str, ...] = ()) -> None:
    if self.latest_step() is None:
      return
    saved = self.read_meta().get("config", {})
    diffs = config_differences(saved, config_dict, retired)
    if diffs:
      raise ConfigMismatchError(
          f"The checkpoint in {self.directory} was written under another config:\n  "
          + "\n  ".join(diffs)
          + "\nUse a new --workdir for the new config, or rerun with the checkpoint's config "
          "(saved in the workdir's config.json)."
      )

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    return self.manager.reached_preemption(int(step))

  def close(self) -> None:
    self.manager.close()


def abstract_like(state, sharding):
  """ShapeDtypeStructs with `sharding` for every array leaf of `state`."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), state)


def _as_old_train_state(tree):
  """The abstract TrainState that layout-1 checkpoints saved a frozen collection as."""
  leaf = jax.tree.leaves(tree)[0]
  old = train_state.TrainState.create(apply_fn=None, params=tree, tx=optax.identity())
  return old.replace(step=jax.ShapeDtypeStruct((), jnp.int32, sharding=leaf.sharding))
