"""Registry: config.method -> the functions that build and step that method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from attn_rl import config_lib
from attn_rl import state as state_lib
from attn_rl.models.ram import RAM
from attn_rl.steps import ram as ram_steps


class Method(NamedTuple):
  validate: Callable[[Any], None]
  make_model: Callable[[Any], Any]
  # (config, model, key, image_shape) -> state; traceable (the loop jits it sharded).
  init_state: Callable[..., Any]
  make_train_step: Callable[..., Callable]
  make_eval_step: Callable[..., Callable]
  # model -> predict(params, images, key) with `.locations` [T, B, 2] for pictures.
  make_predict: Callable[..., Callable]
  # state -> parameters that `predict` takes.
  inference_params: Callable[[Any], Any]


def _ram_init(config, model: RAM, key, image_shape):
  return state_lib.create_ram_state(
      model.init(key, image_shape), config.optim, config.train.num_steps
  )


REGISTRY = {
    "ram": Method(
        validate=config_lib.validate_ram,
        make_model=lambda config: RAM(config.model, num_classes=10),
        init_state=_ram_init,
        make_train_step=ram_steps.make_train_step,
        make_eval_step=ram_steps.make_eval_step,
        make_predict=ram_steps.make_predict,
        inference_params=lambda state: state.params(),
    ),
}


def get(name: str) -> Method:
  if name not in REGISTRY:
    raise ValueError(f"config.method={name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return REGISTRY[name]
