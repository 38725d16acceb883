"""DREAL's training state: backbone W, actor theta, critic phi, and the BatchNorm statistics.

Three TrainStates, each with its own optimizer (`optim` for backbone and actor, `optim.critic`
for the critic), plus `batch_stats`: the BatchNorm running averages of backbone and attention
modules, held in a TrainState whose `params` are the statistics and whose optimizer is
`optax.identity` (never applied). Keeping the statistics in a TrainState-shaped field lets the
checkpointer, which saves and restores `step`, `params` and `opt_state` of every field, carry
them without a special case. The train step replaces them with the batch's updated averages.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct, traverse_util
from flax.training import train_state

from attn_rl import state as state_lib


class DREALState(struct.PyTreeNode):
  backbone: train_state.TrainState
  actor: train_state.TrainState
  critic: train_state.TrainState
  batch_stats: train_state.TrainState

  @property
  def step(self) -> jax.Array:
    return self.backbone.step

  def inference_variables(self) -> dict:
    """{'params', 'batch_stats'} of the ResNet alone: the critics are training-only."""
    return {"params": {**self.backbone.params, **self.actor.params},
            "batch_stats": self.batch_stats.params}


def weight_decay_mask(params: dict) -> dict:
  """True on convolution and dense `kernel` leaves only: BN scales and offsets, biases and SRM's
  `cfc` weight (which the SRM paper leaves undecayed) are not decayed."""
  flat = traverse_util.flatten_dict(params)
  return traverse_util.unflatten_dict({k: k[-1] == "kernel" for k in flat})


def _train_state(params, tx) -> train_state.TrainState:
  # An array step, as after jit, not a Python int.
  return train_state.TrainState.create(apply_fn=None, params=params, tx=tx).replace(
      step=jnp.zeros((), jnp.int32))


def create_dreal_state(backbone: dict, actor: dict, critic: dict, batch_stats: dict, config
                       ) -> DREALState:
  n = config.train.num_steps
  return DREALState(
      backbone=_train_state(backbone, state_lib.make_optimizer(config.optim, n, weight_decay_mask)),
      actor=_train_state(actor, state_lib.make_optimizer(config.optim, n, weight_decay_mask)),
      critic=_train_state(critic, state_lib.make_optimizer(config.optim.critic, n)),
      batch_stats=_train_state(batch_stats, optax.identity()),
  )
