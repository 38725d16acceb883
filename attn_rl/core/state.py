"""One training state for every method: trainable groups and frozen collections.

Each trainable group (RAM's `classifier`, `location`, `baseline`; DREAL's `backbone`, `actor`,
`critic`, ...) is its own `flax.training.train_state.TrainState` with its own optimizer, as the
design asks: "only the intended component moved" is then a property one can check, and each
component keeps its own optimizer moments. Frozen collections (BatchNorm running averages, a
target network) are plain pytrees beside them: no optimizer, no fake TrainState, and they move
only by an explicit replacement in the step. `Checkpointer` saves every group and collection as
one Orbax item of the same name.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state


class State(struct.PyTreeNode):
  """trainable {name: TrainState}, frozen {name: pytree}; `clock` names the group whose step
  counts training steps (every step updates it)."""

  trainable: dict[str, train_state.TrainState]
  frozen: dict[str, Any]
  clock: str = struct.field(pytree_node=False)

  @property
  def step(self) -> jax.Array:
    return self.trainable[self.clock].step

  def params(self, *names: str) -> dict:
    """The named groups' (default: all) parameters merged into {network: params}."""
    out = {}
    for name in names or self.trainable:
      out.update(self.trainable[name].params)
    return out

  def apply_gradients(self, grads: dict) -> State:
    """One optimizer step for each group in `grads` ({name: gradients}); others unchanged."""
    updated = {name: self.trainable[name].apply_gradients(grads=g) for name, g in grads.items()}
    return self.replace(trainable={**self.trainable, **updated})

  def replace_frozen(self, **collections) -> State:
    """A state with the named frozen collections replaced."""
    unknown = set(collections) - set(self.frozen)
    if unknown:
      raise KeyError(f"No frozen collection {sorted(unknown)}; have {sorted(self.frozen)}.")
    return self.replace(frozen={**self.frozen, **collections})

  def items(self) -> dict:
    """{item name: pytree} as checkpoints hold them: every group and every collection."""
    clash = set(self.trainable) & set(self.frozen)
    if clash:
      raise ValueError(f"Names {sorted(clash)} are both trainable groups and frozen collections.")
    return {**self.trainable, **self.frozen}


def create_train_state(params, tx: optax.GradientTransformation) -> train_state.TrainState:
  # An array step, as after jit, not a Python int.
  return train_state.TrainState.create(apply_fn=None, params=params, tx=tx).replace(
      step=jnp.zeros((), jnp.int32))


def create(groups: dict[str, tuple[Any, optax.GradientTransformation]], *, clock: str,
           frozen: dict[str, Any] | None = None) -> State:
  """A State from {group: (params, optimizer)} and {collection: pytree}."""
  if clock not in groups:
    raise ValueError(f"clock={clock!r} must name one of the groups {sorted(groups)}.")
  return State(trainable={n: create_train_state(p, tx) for n, (p, tx) in groups.items()},
               frozen=dict(frozen or {}), clock=clock)
