"""RAM's Method record: components, their optimizers, pictures, and what the loop logs.

Parameters live in three TrainStates with their own optimizer states: `classifier` (glimpse,
core and action networks; trained by cross-entropy), `location` (the policy; trained by
REINFORCE, at `optim.location_lr_scale` times the learning rate) and `baseline` (trained by
the squared error to the reward).
"""

from __future__ import annotations

import numpy as np

from attn_rl.core import method as method_lib
from attn_rl.core import optim
from attn_rl.core import state as state_lib
from attn_rl.glimpse import pictures
from attn_rl.methods.ram import config as ram_config
from attn_rl.methods.ram import steps
from attn_rl.methods.ram.model import RAM

GROUPS = {
    "classifier": ("glimpse", "core", "action"),
    "location": ("location",),
    "baseline": ("baseline",),
}


def lr_scale(optim_config, group: str) -> float:
  """`optim.location_lr_scale` for the `location` group, 1 for every other."""
  return optim_config.location_lr_scale if group == "location" else 1.0


def create_state(params: dict, optim_config, num_steps: int, groups: dict = GROUPS,
                 **frozen) -> state_lib.State:
  """Splits {network: params} into `groups`, each with a fresh optimizer (RAM and top-down)."""
  return state_lib.create(
      {name: ({n: params[n] for n in nets},
              optim.make_optimizer(optim_config, num_steps, lr_scale=lr_scale(optim_config, name)))
       for name, nets in groups.items()},
      clock="classifier", frozen=frozen)


def init_state(config, model: RAM, key, image_shape):
  return create_state(model.init(key, image_shape), config.optim, config.train.num_steps)


def save_pictures(config, out, images, labels, prefix, step) -> list[str]:
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out.logits[i])), int(labels[i])
    paths += pictures.save_trajectory(
        f"{prefix}_{i}", images[i], out.locations[:, i], glimpse_size=config.model.glimpse_size,
        num_scales=config.model.num_scales, caption=f"step {step} label {label} guess {guess}",
    )
  return paths


METHOD = method_lib.Method(
    name="ram",
    defaults=ram_config.defaults,
    validate=ram_config.validate,
    make_model=lambda config, num_classes: RAM(config.model, num_classes),
    init_state=init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=steps.make_predict,
    make_logits=steps.make_logits,
    stochastic=True,
    inference_params=lambda state: state.params(),
    save_pictures=save_pictures,
    log_keys=("loss/total", "loss/classification", "loss/reinforce", "loss/baseline", "acc"),
    report="attn_rl.methods.ram.paper",
)
