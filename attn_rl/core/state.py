"""Training state: one Flax TrainState per component, each with its own optimizer state.

RAM's components: `classifier` (glimpse, core and action networks; trained by
cross-entropy), `location` (the policy; trained by REINFORCE) and `baseline` (trained by
the squared error to the reward). Keeping them apart makes "only the intended component
moved" a property one can check, and lets each component have its own optimizer moments.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state

RAM_GROUPS = {
    "classifier": ("glimpse", "core", "action"),
    "location": ("location",),
    "baseline": ("baseline",),
}


class RAMState(struct.PyTreeNode):
  classifier: train_state.TrainState
  location: train_state.TrainState
  baseline: train_state.TrainState

  @property
  def step(self) -> jax.Array:
    return self.classifier.step

  def params(self) -> dict:
    """All network parameters merged into {network: params}."""
    return {**self.classifier.params, **self.location.params, **self.baseline.params}


def components(state) -> dict[str, train_state.TrainState]:
  """{name: TrainState} of a state dataclass, in field order."""
  return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}


def make_schedule(optim_config, num_steps: int) -> optax.Schedule:
  c = optim_config
  if c.schedule == "constant":
    return optax.constant_schedule(c.learning_rate)
  if c.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
        0.0, c.learning_rate, c.warmup_steps, max(num_steps, c.warmup_steps + 1),
        end_value=c.learning_rate * c.final_lr_fraction,
    )
  if c.schedule == "exponential":
    # Decays to final_lr_fraction of the peak by the last step.
    return optax.exponential_decay(
        c.learning_rate, transition_steps=max(num_steps, 1), decay_rate=c.final_lr_fraction,
    )
  if c.schedule == "piecewise":
    # The ResNet recipe: the rate divided by 10 every `decay_every_steps` steps.
    return optax.exponential_decay(
        c.learning_rate, transition_steps=c.decay_every_steps, decay_rate=0.1, staircase=True,
    )
  raise ValueError(
      "optim.schedule must be 'constant', 'cosine', 'exponential' or 'piecewise', "
      f"got {c.schedule!r}"
  )


def make_optimizer(optim_config, num_steps: int, weight_decay_mask=None, lr_scale: float = 1.0
                   ) -> optax.GradientTransformation:
  """`optim.weight_decay` (absent or 0: none) adds L2 weight decay to the gradient before the
  optimizer, as torch.optim.SGD does, on the leaves where `weight_decay_mask` (a pytree of
  bools or a function of the params) is true (all leaves if None). `lr_scale` multiplies the
  whole learning-rate schedule (a component trained more slowly than the others)."""
  c = optim_config
  schedule = make_schedule(c, num_steps)
  if lr_scale != 1.0:
    base_schedule = schedule
    schedule = lambda step: lr_scale * base_schedule(step)
  if c.name == "adam":
    opt = optax.adam(schedule)
  elif c.name == "sgd":
    opt = optax.sgd(schedule, momentum=c.momentum, nesterov=False)
  else:
    raise ValueError(f"optim.name must be 'adam' or 'sgd', got {c.name!r}")
  if c.get("weight_decay", 0.0):
    opt = optax.chain(optax.add_decayed_weights(c.weight_decay, mask=weight_decay_mask), opt)
  if c.grad_clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(c.grad_clip_norm), opt)
  return opt


def location_lr_scale(optim_config, component: str) -> float:
  """`optim.location_lr_scale` for the `location` component, 1 for every other."""
  return optim_config.location_lr_scale if component == "location" else 1.0


def create_ram_state(params: dict, optim_config, num_steps: int) -> RAMState:
  """Splits {network: params} into the RAM components, each with a fresh optimizer.

  The location network's learning rate is `optim.location_lr_scale` times the others'.
  """
  parts = {}
  for name, nets in RAM_GROUPS.items():
    parts[name] = train_state.TrainState.create(
        apply_fn=None, params={n: params[n] for n in nets},
        tx=make_optimizer(optim_config, num_steps, lr_scale=location_lr_scale(optim_config, name)),
    ).replace(step=jnp.zeros((), jnp.int32))  # An array, as after jit, not a Python int.
  return RAMState(**parts)
