"""The re-ID method's record: DREAL's state groups and critics on a BNNeck ResNet, ranked by
the retrieval evaluator; checkpoints selected on validation mAP.

Same groups as DREAL (`backbone`, `actor`, `critic`, frozen `batch_stats`): the network, its
attention modules, critics and rewards are DREAL's, imported, not copied. What re-ID adds:
the losses (`losses.py`), the embedding eval step (`steps.py`), the data (`data/reid.py`) and
`warm_start`, which starts the network from another workdir's checkpoint (an ImageNet DREAL
run: the paper's ImageNet initialisation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from absl import logging
from flax import traverse_util

from attn_rl.backbones import resnet
from attn_rl.core import method as method_lib
from attn_rl.core import state as state_lib
from attn_rl.methods.dreal import method as dreal_method
from attn_rl.methods.dreal import steps as dreal_steps
from attn_rl.methods.reid import config as reid_config
from attn_rl.methods.reid import steps

# Parameters never copied by `warm_start`: the classifier (its classes are the source's).
NOT_COPIED = ("head",)


def _merge(target: dict, source: dict, what: str, copied: list) -> dict:
  """target with every leaf that `source` has at the same path (outside NOT_COPIED)."""
  flat_t, flat_s = traverse_util.flatten_dict(target), traverse_util.flatten_dict(source)
  out = {}
  for path, leaf in flat_t.items():
    other = flat_s.get(path)
    if other is None or path[0] in NOT_COPIED:
      out[path] = leaf
      continue
    # A stacked (multi-seed) state has a leading seed axis: every seed gets the same start.
    if other.shape != leaf.shape[leaf.ndim - other.ndim:]:
      raise ValueError(
          f"model.init_from: {what} {'/'.join(path)} has shape {other.shape} there and "
          f"{leaf.shape} here: the checkpoint's network differs from this config's (model.arch,"
          " widths, attention). Use a checkpoint of the same architecture.")
    out[path] = jax.device_put(jnp.broadcast_to(jnp.asarray(other, leaf.dtype), leaf.shape),
                               leaf.sharding)
    copied.append(f"{what}/{'/'.join(path)}")
  return traverse_util.unflatten_dict(out)


def warm_start(config, state: state_lib.State) -> state_lib.State:
  """The fresh state with the network of `config.model.init_from`'s selected checkpoint (its
  best/, else its latest) copied in where names and shapes agree; optimizer states stay fresh."""
  if not config.model.init_from:
    return state
  from attn_rl.core import loop  # noqa: PLC0415 (the loop imports methods lazily too)

  _, _, _, source, meta = loop.load_trained(config.model.init_from)
  copied: list[str] = []
  trainable = dict(state.trainable)
  for group in ("backbone", "actor"):
    if group in source.trainable:
      params = _merge(trainable[group].params, source.trainable[group].params, group, copied)
      trainable[group] = trainable[group].replace(params=params)
  stats = _merge(state.frozen["batch_stats"], source.frozen.get("batch_stats", {}),
                 "batch_stats", copied)
  if not copied:
    raise ValueError(f"model.init_from={config.model.init_from!r}: no parameter of its "
                     "checkpoint matches this network by name; is it an attention ResNet run?")
  logging.info("Started from %s (step %s): %d arrays copied.", config.model.init_from,
               meta.get("step"), len(copied))
  return state.replace(trainable=trainable).replace_frozen(batch_stats=stats)


METHOD = method_lib.Method(
    name="reid",
    defaults=reid_config.defaults,
    validate=reid_config.validate,
    make_model=lambda config, num_classes: resnet.make_resnet(config.model, num_classes),
    init_state=dreal_method.init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=dreal_steps.make_predict,
    inference_params=dreal_method.inference_variables,
    warm_start=warm_start,
    evaluator="retrieval",
    selection_metric="map",
    selection_mode="max",
    log_keys=("loss/total", "loss/id", "loss/triplet", "loss/actor", "loss/critic",
              "reward/mean", "acc"),
    retired_keys=reid_config.RETIRED_KEYS,
    report="attn_rl.methods.reid.paper",
)
