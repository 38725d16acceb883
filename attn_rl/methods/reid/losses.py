"""Re-identification losses as pure functions: batch-hard triplet and label-smoothed ID loss.

  triplet   Hermans et al. 2017, "In Defense of the Triplet Loss", batch hard: for every anchor
            a, the farthest positive p (same identity, not a itself) and the nearest negative n
            in the batch, L = mean_a max(0, m + d(a, p) - d(a, n)), d Euclidean. The squared
            distance is clamped at 1e-12 before the square root (its gradient is infinite at
            0). Anchors without a positive or a negative in the batch are left out of the mean
            (any P x K, unequal K included, is accepted).
  id        cross-entropy against labels smoothed as in Szegedy et al. 2016:
            q = (1 - eps) one_hot(y) + eps / K.
Luo et al. 2019 ("Bag of Tricks", BNNeck) put the triplet on the pooled features before the
neck's BatchNorm and the ID loss on the classifier after it (`backbones/resnet.py`, neck
'bnneck'); DREAL's re-ID experiment uses both, margin 0.5 and eps 0.1.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def pairwise_distances(x: jax.Array) -> jax.Array:
  """[B, D] -> [B, B] Euclidean distances, the squared distance clamped at 1e-12."""
  chex.assert_rank(x, 2)
  sq = jnp.sum(x * x, axis=1)
  d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
  return jnp.sqrt(jnp.maximum(d2, 1e-12))


def batch_hard_triplet(features: jax.Array, labels: jax.Array, margin: float
                       ) -> tuple[jax.Array, dict]:
  """features [B, D], labels [B] -> (loss, {'ap', 'an', 'active'}: mean hardest positive and
  negative distances and the fraction of anchors with a nonzero loss)."""
  chex.assert_rank([features, labels], [2, 1])
  d = pairwise_distances(features)
  same = labels[:, None] == labels[None, :]
  positive = same & ~jnp.eye(len(labels), dtype=bool)
  hardest_pos = jnp.max(jnp.where(positive, d, -jnp.inf), axis=1)
  hardest_neg = jnp.min(jnp.where(~same, d, jnp.inf), axis=1)
  valid = positive.any(1) & (~same).any(1)
  per_anchor = jnp.where(valid, jax.nn.relu(margin + hardest_pos - hardest_neg), 0.0)
  count = jnp.maximum(valid.sum(), 1)
  mean = lambda v: jnp.sum(jnp.where(valid, v, 0.0)) / count
  return per_anchor.sum() / count, {"ap": mean(hardest_pos), "an": mean(hardest_neg),
                                    "active": mean((per_anchor > 0).astype(jnp.float32))}


def label_smoothed_cross_entropy(logits: jax.Array, labels: jax.Array, epsilon: float
                                 ) -> jax.Array:
  """[B, K], [B] -> scalar: mean cross-entropy against (1 - eps) one_hot + eps / K."""
  chex.assert_rank([logits, labels], [2, 1])
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), epsilon)
  return optax.softmax_cross_entropy(logits, targets).mean()


def make_supervised_loss(reid_config):
  """(logits, trace, labels) -> {'id', 'triplet'}: the terms DREAL's step adds to L_q
  (`methods/dreal/steps.loss_terms`); the triplet reads the features before the neck."""
  r = reid_config

  def supervised_loss(logits, trace, labels):
    triplet, _ = batch_hard_triplet(trace.features, labels, r.margin)
    return {"id": label_smoothed_cross_entropy(logits, labels, r.label_smoothing),
            "triplet": r.triplet_weight * triplet}

  return supervised_loss
