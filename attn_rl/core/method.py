"""The Method record, and the registry from `config.method` to the module that defines it.

A method is one folder `attn_rl/methods/<name>/` whose `method.py` defines `METHOD`, a
`Method`; adding one is that folder plus one line in `REGISTRY`. The registry holds module
paths, not imports: the core names no method module it would have to load, and a config file
or a tool loads only the method it uses.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# config.method -> the module whose `METHOD` is that method's record.
REGISTRY = {
    "ram": "attn_rl.methods.ram.method",
    "topdown": "attn_rl.methods.topdown.method",
    "dreal": "attn_rl.methods.dreal.method",
    "reid": "attn_rl.methods.reid.method",
    "dram": "attn_rl.methods.dram.method",
    "seq_cnn": "attn_rl.methods.dram.cnn_method",
    "video": "attn_rl.methods.video.method",
}


@dataclasses.dataclass(frozen=True)
class Method:
  """What the loop and the tools need from a method; every field is a pure function or data."""

  name: str
  # () -> ConfigDict: the keys every config of the method has.
  defaults: Callable[[], Any]
  # config -> None; raises ValueError naming the key, the value and the fix.
  validate: Callable[[Any], None]
  # (config, num_classes) -> model object (its init/apply functions; no parameters).
  make_model: Callable[[Any, int], Any]
  # (config, model, key, image_shape) -> core.state.State; traceable (the loop jits it).
  init_state: Callable[..., Any]
  # (config, model) -> train_step(state, batch, key) -> (state, metrics).
  make_train_step: Callable[..., Callable]
  # (config, model) -> eval_step(state, batch, key) -> sums for the evaluator.
  make_eval_step: Callable[..., Callable]
  # model -> predict(params, images, key), the input of `save_pictures`.
  make_predict: Callable[..., Callable]
  # state -> the parameters `predict` takes.
  inference_params: Callable[[Any], Any]
  # (config, model) -> logits(params, images, key, deterministic) -> [B, K]: the classifier
  # as a differentiable function of float images in [0, 1] ([B, H, W] or [B, H, W, C]), for
  # attacks (core/evaluators/robustness.py); `key` is one key per image ([B]), and
  # `deterministic` (static) takes the policy's mean instead of a draw. None: not attackable.
  make_logits: Callable[..., Callable] | None = None
  # Whether `logits` depends on its key (a stochastic policy): attacks then average over draws.
  stochastic: bool = False
  # (config, state) -> state: changes a freshly initialised state (not a resumed one), e.g.
  # copies in a pretrained network (`core/warm_start.py`, `model.init_from`); None: the
  # initial state as is.
  warm_start: Callable[..., Any] | None = None
  # (config, predict output, images, labels, path prefix, step) -> written paths; None: none.
  save_pictures: Callable[..., list[str]] | None = None
  # Evaluator of the eval step's sums (core/evaluators).
  evaluator: str = "classification"
  # Validation metric that selects the checkpoint tested at the end, and its direction.
  selection_metric: str = "error"
  selection_mode: str = "min"
  # Train metrics shown on the log line, in order (all of them go to metrics.jsonl).
  log_keys: tuple[str, ...] = ("loss/total", "acc")
  # Config keys the method once had and dropped as unused: an old checkpoint may hold them.
  retired_keys: tuple[str, ...] = ()
  # Module with the method's paper rows and results table (tools/report.py), or None.
  report: str | None = None
  # config -> (selection_metric, selection_mode) where the config decides (videos: error for
  # one label, mAP for label sets); None: the fields above for every config.
  select: Callable[[Any], tuple[str, str]] | None = None

  def __post_init__(self):
    if self.selection_mode not in ("min", "max"):
      raise ValueError(f"selection_mode must be 'min' or 'max', got {self.selection_mode!r}.")

  def for_config(self, config) -> Method:
    """The record with the selection metric and direction of this config (`select`)."""
    if self.select is None:
      return self
    metric, mode = self.select(config)
    return dataclasses.replace(self, selection_metric=metric, selection_mode=mode)

  def worst(self) -> float:
    """The best value before any validation: every finite value beats it."""
    return float("inf") if self.selection_mode == "min" else float("-inf")

  def better(self, value: float, best: float) -> bool:
    """Whether a validation value strictly beats the best so far (NaN never does)."""
    return value < best if self.selection_mode == "min" else value > best


def get(name: str) -> Method:
  if name not in REGISTRY:
    raise ValueError(f"config.method={name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return importlib.import_module(REGISTRY[name]).METHOD


def names() -> tuple[str, ...]:
  return tuple(REGISTRY)
