"""Re-ID train and eval steps: DREAL's step with the re-ID losses, and an embedding eval step.

Training is DREAL's step (`methods/dreal/steps.py`: backbone, actor and critic groups, the
mean-substitution reward on the true-identity probability, the same gradient cuts) with its
supervised term L_c replaced by the label-smoothed ID loss plus the batch-hard triplet loss
(`losses.py`). Evaluation returns per-example embeddings for the retrieval evaluator
(`core/evaluators/retrieval.py`).
"""

from __future__ import annotations

import jax.numpy as jnp

from attn_rl.backbones.resnet import ResNet
from attn_rl.core.state import State
from attn_rl.methods.dreal import steps as dreal_steps
from attn_rl.methods.reid import losses


def make_train_step(config, model: ResNet):
  """train_step(state, batch, key) -> (state, metrics); batch {'image', 'label'} from the PK
  sampler, labels the training identities 0..N-1."""
  return dreal_steps.make_train_step(
      config, model, supervised_loss=losses.make_supervised_loss(config.reid))


def embed(model: ResNet, variables: dict, images, reid_config) -> jnp.ndarray:
  """[B, D]: the embedding ranked at evaluation (BatchNorm running averages), the mean of the
  image's and its horizontal flip's with `flip_test`."""

  def one(x):
    _, trace = model.apply(variables, x, train=False)
    return trace.embedding if reid_config.eval_feature == "after" else trace.features

  features = one(images)
  if reid_config.flip_test:
    features = 0.5 * (features + one(images[:, :, ::-1]))  # Axis 2 is the width.
  return features


def make_eval_step(config, model: ResNet):
  """eval_step(state, batch, key) -> per-example {'feature', 'label', 'camid', 'is_query',
  'mask'} (the retrieval evaluator ranks them); deterministic, `key` unused."""

  def eval_step(state: State, batch, key):
    del key
    variables = {"params": state.params("backbone", "actor"),
                 "batch_stats": state.frozen["batch_stats"]}
    return {"feature": embed(model, variables, batch["image"], config.reid),
            "label": batch["label"], "camid": batch["camid"],
            "is_query": batch["is_query"], "mask": batch["mask"]}

  return eval_step
