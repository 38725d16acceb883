"""Optimizers from an `optim` config group (`core/config.py`): schedule, clipping, decay."""

from __future__ import annotations

import optax
from flax import traverse_util

from attn_rl.core.config import SCHEDULES


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
  raise ValueError(f"optim.schedule must be one of {', '.join(map(repr, SCHEDULES))}, "
                   f"got {c.schedule!r}")


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
  elif c.name == "amsgrad":
    # Reddi et al. 2018 (torch.optim.Adam(amsgrad=True)); weight decay, as in torch, is the
    # L2 term added to the gradient below.
    opt = optax.amsgrad(schedule)
  elif c.name == "sgd":
    opt = optax.sgd(schedule, momentum=c.momentum, nesterov=False)
  else:
    raise ValueError(f"optim.name must be 'adam', 'amsgrad' or 'sgd', got {c.name!r}")
  if c.get("weight_decay", 0.0):
    opt = optax.chain(optax.add_decayed_weights(c.weight_decay, mask=weight_decay_mask), opt)
  if c.grad_clip_norm:
    opt = optax.chain(optax.clip_by_global_norm(c.grad_clip_norm), opt)
  return opt


def kernel_mask(params: dict) -> dict:
  """True on convolution and dense `kernel` leaves only: normalisation scales and offsets,
  biases and other weights (such as SRM's `cfc`, which the SRM paper leaves undecayed) are
  not decayed."""
  flat = traverse_util.flatten_dict(params)
  return traverse_util.unflatten_dict({k: k[-1] == "kernel" for k in flat})
