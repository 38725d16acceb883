"""The top-down method's record: its components, the frozen target network, and pictures.

  classifier   glimpse, core, action and context networks (cross-entropy of alpha_T and Z)
  location     the bottom-up location policy (REINFORCE)
  baseline     the REINFORCE baseline (squared error to the reward)
  qnet         the top-down Q-network (Q-learning)
and the frozen collection `qnet_target`, the target Q-network: no optimizer, it moves only by
`steps.update_target`, never by a gradient.
"""

from __future__ import annotations

import numpy as np

from attn_rl.core import method as method_lib
from attn_rl.glimpse import pictures
from attn_rl.methods.ram import method as ram_method
from attn_rl.methods.topdown import config as td_config
from attn_rl.methods.topdown import steps
from attn_rl.methods.topdown.model import TopDownModel

GROUPS = {
    "classifier": ("glimpse", "core", "action", "context"),
    "location": ("location",),
    "baseline": ("baseline",),
    "qnet": ("qnet",),
}


def init_state(config, model: TopDownModel, key, image_shape):
  """Fresh optimizers per group (RAM's recipe); the target network starts as the online one."""
  params = model.init(key, image_shape)
  return ram_method.create_state(params, config.optim, config.train.num_steps, GROUPS,
                                 qnet_target={"qnet": params["qnet"]})


def save_pictures(config, out, images, labels, prefix, step) -> list[str]:
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out.logits[i])), int(labels[i])
    region = None if out.top_left[i, 0] < 0 else (*out.top_left[i], int(out.window))
    paths += pictures.save_region_trajectory(
        f"{prefix}_{i}", images[i], out.locations[:, i], region,
        glimpse_size=config.model.glimpse_size, num_scales=config.model.num_scales,
        caption=f"step {step} label {label} guess {guess}",
    )
  return paths


METHOD = method_lib.Method(
    name="topdown",
    defaults=td_config.defaults,
    validate=td_config.validate,
    make_model=lambda config, num_classes: TopDownModel(config, num_classes),
    init_state=init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=steps.make_predict,
    make_logits=steps.make_logits,
    stochastic=True,
    inference_params=lambda state: state.params(),
    save_pictures=save_pictures,
    log_keys=("loss/total", "loss/classification", "loss/context", "loss/reinforce",
              "loss/q", "acc"),
    report="attn_rl.methods.topdown.paper",
)
