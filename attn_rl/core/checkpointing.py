"""Orbax checkpoints: one item per component TrainState plus a JSON item of metadata.

Restores go against an abstract target (shapes, dtypes and shardings of a freshly
initialised state), so a checkpoint written on 8 devices restores on 1 and the reverse.
The metadata holds the config the checkpoint was written with; resuming under a config that
differs in anything but the keys of `RESUMABLE_CHANGES` is refused with the differences.
"""

from __future__ import annotations

import os

import jax
import ml_collections
import orbax.checkpoint as ocp

from attn_rl import state as state_lib

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


def flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


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


def config_differences(saved: dict, current: dict) -> list[str]:
  a = {k: _json_like(v) for k, v in flatten(saved).items()}
  b = {k: _json_like(v) for k, v in flatten(current).items()}
  diffs = []
  for key in sorted(set(a) | set(b)):
    if key.startswith(RESUMABLE_CHANGES) or a.get(key) == b.get(key):
      continue
    if key not in a and key in ADDED_KEYS and b.get(key) == ADDED_KEYS[key]:
      continue
    diffs.append(f"{key}: checkpoint {a.get(key, '<absent>')!r}, now {b.get(key, '<absent>')!r}")
  return diffs


class Checkpointer:
  """A CheckpointManager for states made of TrainState components."""

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
    items = {k: ocp.args.StandardSave(v) for k, v in state_lib.components(state).items()}
    self.manager.save(
        int(step), args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items), force=force
    )

  def read_meta(self, step: int | None = None) -> dict:
    step = self.latest_step() if step is None else step
    return self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

  def restore(self, abstract_state, step: int | None = None):
    """(state, meta) from `step` (default latest), placed as `abstract_state`'s shardings."""
    step = self.latest_step() if step is None else step
    items = {
        k: ocp.args.StandardRestore(v) for k, v in state_lib.components(abstract_state).items()
    }
    restored = self.manager.restore(
        step, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items)
    )
    parts = {k: restored[k] for k in items}
    # Restored leaves are arrays; static fields (apply_fn, tx) come from the abstract state.
    state = abstract_state.replace(**{
        k: getattr(abstract_state, k).replace(
            step=v.step, params=v.params, opt_state=v.opt_state) for k, v in parts.items()
    })
    return state, restored["meta"]

  def check_config(self, config_dict: dict) -> None:
    if self.latest_step() is None:
      return
    saved = self.read_meta().get("config", {})
    diffs = config_differences(saved, config_dict)
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
