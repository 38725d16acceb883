"""Starting a run's networks from another workdir's trained ones (`model.init_from`).

A method opts in by giving its `Method` record a `warm_start` built with `warm_start`: which
trainable groups and frozen collections to copy, and which networks never to copy (a label
head whose classes are the source task's). The loop calls it once, on the fresh state of a run
that has no checkpoint of its own; a resumed run restores its own checkpoint instead, so the
source workdir is needed only at the start.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from absl import logging
from etils import epath
from flax import traverse_util

from attn_rl.core import state as state_lib


def merge(target: dict, source: dict, what: str, skip: Sequence[str], copied: list) -> dict:
  """target with every leaf that `source` has at the same path, except under the top-level
  names in `skip`; the names of copied leaves are appended to `copied`.

  A target with a leading seed axis (a multi-seed state) gets the source leaf on every seed.
  A leaf whose shape differs is an error: the networks differ.
  """
  flat_t, flat_s = traverse_util.flatten_dict(target), traverse_util.flatten_dict(source)
  out = {}
  for path, leaf in flat_t.items():
    other = flat_s.get(path)
    if other is None or path[0] in skip:
      out[path] = leaf
      continue
    if other.shape != leaf.shape[leaf.ndim - other.ndim:]:
      raise ValueError(
          f"model.init_from: {what} {'/'.join(path)} has shape {other.shape} there and "
          f"{leaf.shape} here: the checkpoint's network differs from this config's (widths, "
          "architecture). Use a checkpoint of the same architecture.")
    out[path] = jax.device_put(jnp.broadcast_to(jnp.asarray(other, leaf.dtype), leaf.shape),
                               leaf.sharding)
    copied.append(f"{what}/{'/'.join(path)}")
  return traverse_util.unflatten_dict(out)


def copy_networks(config, state: state_lib.State, *, groups: Sequence[str] | None = None,
                  frozen: Sequence[str] = (), skip: Sequence[str] = ()) -> state_lib.State:
  """The fresh `state` with the networks of `config.model.init_from`'s selected checkpoint (its
  best/, else its latest) copied in where names and shapes agree; optimizer states stay fresh.

  groups: trainable groups copied (None: every group both states have); frozen: frozen
  collections copied (BatchNorm statistics); skip: top-level network names never copied.
  """
  if not config.model.get("init_from"):
    return state
  from attn_rl.core import loop  # noqa: PLC0415 (the loop imports this module's users)

  if not (epath.Path(config.model.init_from) / "config.json").exists():
    raise FileNotFoundError(
        f"model.init_from={config.model.init_from!r} holds no config.json: name a workdir that "
        "attn_rl.main trained (for a run of several seeds, one seed's folder, seed_<k>).")
  _, _, _, source, meta = loop.load_trained(config.model.init_from)
  copied: list[str] = []
  trainable = dict(state.trainable)
  for group in (state.trainable if groups is None else groups):
    if group in source.trainable:
      params = merge(trainable[group].params, source.trainable[group].params, group, skip,
                     copied)
      trainable[group] = trainable[group].replace(params=params)
  collections = {name: merge(state.frozen[name], source.frozen.get(name, {}), name, skip, copied)
                 for name in frozen}
  if not copied:
    raise ValueError(f"model.init_from={config.model.init_from!r}: no parameter of its "
                     "checkpoint matches this network by name; is it a run of this method "
                     "(or, for re-ID, an attention ResNet run)?")
  logging.info("Started from %s (step %s): %d arrays copied.", config.model.init_from,
               meta.get("step"), len(copied))
  state = state.replace(trainable=trainable)
  return state.replace_frozen(**collections) if collections else state


def warm_start(*, groups: Sequence[str] | None = None, frozen: Sequence[str] = (),
               skip: Sequence[str] = ()):
  """A method's `warm_start(config, state)`: `copy_networks` with these settings."""
  return functools.partial(copy_networks, groups=groups, frozen=frozen, skip=skip)
