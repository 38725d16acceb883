"""DREAL's record: backbone W, actor theta, critic phi, and the BatchNorm statistics.

Three trainable groups, each with its own optimizer (`optim` for backbone and actor,
`optim.critic` for the critic), plus the frozen collection `batch_stats`: the BatchNorm running
averages of backbone and attention modules, which the train step replaces with the batch's
updated averages (they belong to both W and theta, so they live beside the groups, not on one).
"""

from __future__ import annotations

import numpy as np

from attn_rl.backbones import resnet
from attn_rl.core import method as method_lib
from attn_rl.core import optim
from attn_rl.core import state as state_lib
from attn_rl.methods.dreal import config as dreal_config
from attn_rl.methods.dreal import pictures, steps


def create_state(backbone: dict, actor: dict, critic: dict, batch_stats: dict, config
                 ) -> state_lib.State:
  n = config.train.num_steps
  return state_lib.create({
      "backbone": (backbone, optim.make_optimizer(config.optim, n, optim.kernel_mask)),
      "actor": (actor, optim.make_optimizer(config.optim, n, optim.kernel_mask)),
      "critic": (critic, optim.make_optimizer(config.optim.critic, n)),
  }, clock="backbone", frozen={"batch_stats": batch_stats})


def inference_variables(state: state_lib.State) -> dict:
  """{'params', 'batch_stats'} of the ResNet alone: the critics are training-only."""
  return {"params": state.params("backbone", "actor"), "batch_stats": state.frozen["batch_stats"]}


def init_state(config, model, key, image_shape):
  v = steps.init_variables(model, key, image_shape, config.dreal.critic_hidden)
  return create_state(v["backbone"], v["actor"], v["critic"], v["batch_stats"], config)


def save_pictures(config, out, images, labels, prefix, step) -> list[str]:
  del config
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out["logits"][i])), int(labels[i])
    block_maps = [tuple(m[i] for m in maps) for maps in out["maps"]]
    paths += pictures.save_maps(f"{prefix}_{i}", images[i], block_maps,
                                caption=f"step {step} label {label} guess {guess}")
  return paths


METHOD = method_lib.Method(
    name="dreal",
    defaults=dreal_config.defaults,
    validate=dreal_config.validate,
    make_model=lambda config, num_classes: resnet.make_resnet(config.model, num_classes),
    init_state=init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=steps.make_predict,
    make_logits=steps.make_logits,
    inference_params=inference_variables,
    save_pictures=save_pictures,
    log_keys=("loss/total", "loss/classification", "loss/actor", "loss/critic",
              "reward/mean", "acc"),
    retired_keys=dreal_config.RETIRED_KEYS,
    report="attn_rl.methods.dreal.paper",
)
