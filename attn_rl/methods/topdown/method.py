"""Training state of the top-down + bottom-up method: one TrainState per component.

  classifier   glimpse, core, action and context networks (cross-entropy of alpha_T and Z)
  location     the bottom-up location policy (REINFORCE)
  baseline     the REINFORCE baseline (squared error to the reward)
  qnet         the top-down Q-network (Q-learning)
  qnet_target  the frozen target Q-network. A TrainState with an `optax.identity` optimizer
               so that the checkpointer, which saves every TrainState field, keeps it; its
               parameters move only by `update_target`, never by a gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state

from attn_rl import state as state_lib

TOPDOWN_GROUPS = {
    "classifier": ("glimpse", "core", "action", "context"),
    "location": ("location",),
    "baseline": ("baseline",),
    "qnet": ("qnet",),
}


class TopDownState(struct.PyTreeNode):
  classifier: train_state.TrainState
  location: train_state.TrainState
  baseline: train_state.TrainState
  qnet: train_state.TrainState
  qnet_target: train_state.TrainState

  @property
  def step(self) -> jax.Array:
    return self.classifier.step

  def params(self) -> dict:
    """All online network parameters merged into {network: params}."""
    return {**self.classifier.params, **self.location.params, **self.baseline.params,
            **self.qnet.params}


def create_topdown_state(params: dict, optim_config, num_steps: int) -> TopDownState:
  """Splits {network: params} into components, each with a fresh optimizer; target = online."""
  def fresh(p, tx):
    # An array step, as after jit, not a Python int.
    return train_state.TrainState.create(apply_fn=None, params=p, tx=tx).replace(
        step=jnp.zeros((), jnp.int32))

  parts = {name: fresh({n: params[n] for n in nets}, state_lib.make_optimizer(
                          optim_config, num_steps,
                          lr_scale=state_lib.location_lr_scale(optim_config, name)))
           for name, nets in TOPDOWN_GROUPS.items()}
  parts["qnet_target"] = fresh({"qnet": params["qnet"]}, optax.identity())
  return TopDownState(**parts)


def update_target(online, target, step, topdown_config):
  """Target parameters after an online update at `step` (the new step count).

  'polyak': target <- tau * online + (1 - tau) * target every step;
  'periodic': target <- online when step % target_period == 0, else unchanged.
  """
  c = topdown_config
  if c.target_update == "polyak":
    return optax.incremental_update(online, target, c.target_tau)
  if c.target_update == "periodic":
    return optax.periodic_update(online, target, step, c.target_period)
  raise ValueError(f"topdown.target_update must be 'polyak' or 'periodic', got {c.target_update!r}")
