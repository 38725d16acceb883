"""Registry: config.method -> the functions that build and step that method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from attn_rl import config_lib, dreal_state, topdown_state, viz, viz_dreal
from attn_rl import state as state_lib
from attn_rl.data import pipeline
from attn_rl.models import resnet
from attn_rl.models.ram import RAM
from attn_rl.models.topdown import TopDownModel
from attn_rl.steps import dreal as dreal_steps
from attn_rl.steps import ram as ram_steps
from attn_rl.steps import topdown as topdown_steps


class Method(NamedTuple):
  validate: Callable[[Any], None]
  make_model: Callable[[Any], Any]
  # (config, model, key, image_shape) -> state; traceable (the loop jits it sharded).
  init_state: Callable[..., Any]
  make_train_step: Callable[..., Callable]
  make_eval_step: Callable[..., Callable]
  # model -> predict(params, images, key), the input of `save_pictures`.
  make_predict: Callable[..., Callable]
  # state -> parameters that `predict` takes.
  inference_params: Callable[[Any], Any]
  # (config, predict output, images, labels, path prefix, step) -> written paths.
  save_pictures: Callable[..., list[str]]
  # Train metrics shown on the log line, in order (all of them go to metrics.jsonl).
  log_keys: tuple[str, ...] = ("loss/total", "acc")


def _ram_init(config, model: RAM, key, image_shape):
  return state_lib.create_ram_state(
      model.init(key, image_shape), config.optim, config.train.num_steps
  )


def _ram_pictures(config, out, images, labels, prefix, step) -> list[str]:
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out.logits[i])), int(labels[i])
    paths += viz.save_trajectory(
        f"{prefix}_{i}", images[i], out.locations[:, i], glimpse_size=config.model.glimpse_size,
        num_scales=config.model.num_scales, caption=f"step {step} label {label} guess {guess}",
    )
  return paths


def _dreal_init(config, model, key, image_shape):
  v = dreal_steps.init_variables(model, key, image_shape)
  return dreal_state.create_dreal_state(v["backbone"], v["actor"], v["critic"],
                                        v["batch_stats"], config)


def _dreal_pictures(config, out, images, labels, prefix, step) -> list[str]:
  del config
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out["logits"][i])), int(labels[i])
    block_maps = [tuple(m[i] for m in maps) for maps in out["maps"]]
    paths += viz_dreal.save_maps(f"{prefix}_{i}", images[i], block_maps,
                                 caption=f"step {step} label {label} guess {guess}")
  return paths


def _topdown_init(config, model: TopDownModel, key, image_shape):
  return topdown_state.create_topdown_state(
      model.init(key, image_shape), config.optim, config.train.num_steps
  )


def _topdown_pictures(config, out, images, labels, prefix, step) -> list[str]:
  paths = []
  for i in range(len(images)):
    guess, label = int(np.argmax(out.logits[i])), int(labels[i])
    region = None if out.top_left[i, 0] < 0 else (*out.top_left[i], int(out.window))
    paths += viz.save_region_trajectory(
        f"{prefix}_{i}", images[i], out.locations[:, i], region,
        glimpse_size=config.model.glimpse_size, num_scales=config.model.num_scales,
        caption=f"step {step} label {label} guess {guess}",
    )
  return paths


REGISTRY = {
    "ram": Method(
        validate=config_lib.validate_ram,
        make_model=lambda config: RAM(config.model, num_classes=10),
        init_state=_ram_init,
        make_train_step=ram_steps.make_train_step,
        make_eval_step=ram_steps.make_eval_step,
        make_predict=ram_steps.make_predict,
        inference_params=lambda state: state.params(),
        save_pictures=_ram_pictures,
        log_keys=("loss/total", "loss/classification", "loss/reinforce", "loss/baseline", "acc"),
    ),
    "topdown": Method(
        validate=config_lib.validate_topdown,
        make_model=lambda config: TopDownModel(config, num_classes=10),
        init_state=_topdown_init,
        make_train_step=topdown_steps.make_train_step,
        make_eval_step=topdown_steps.make_eval_step,
        make_predict=topdown_steps.make_predict,
        inference_params=lambda state: state.params(),
        save_pictures=_topdown_pictures,
        log_keys=("loss/total", "loss/classification", "loss/context", "loss/reinforce",
                  "loss/q", "acc"),
    ),
    "dreal": Method(
        validate=config_lib.validate_dreal,
        make_model=lambda config: resnet.make_resnet(
            config.model, num_classes=pipeline.num_classes(config.data)),
        init_state=_dreal_init,
        make_train_step=dreal_steps.make_train_step,
        make_eval_step=dreal_steps.make_eval_step,
        make_predict=dreal_steps.make_predict,
        inference_params=lambda state: state.inference_variables(),
        save_pictures=_dreal_pictures,
        log_keys=("loss/total", "loss/classification", "loss/actor", "loss/critic",
                  "reward/mean", "acc"),
    ),
}


def get(name: str) -> Method:
  if name not in REGISTRY:
    raise ValueError(f"config.method={name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return REGISTRY[name]
