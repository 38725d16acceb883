"""The video losses as small pure functions on one clip (vmap them over the batch), rlax style.

Suffixes: `_t` over steps (frames, [T]), `_c` over classes ([C]), `_i` over slices ([K^2]).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def predicted_set(probs_c: jax.Array, multilabel: bool, threshold: float = 0.5) -> jax.Array:
  """bool [C]: the classes a clip predicts: the argmax (one label) or every class whose
  probability exceeds `threshold` (label sets)."""
  chex.assert_rank(probs_c, 1)
  if multilabel:
    return probs_c > threshold
  return jnp.arange(probs_c.shape[0]) == jnp.argmax(probs_c)


def detection_reward(pred_c: jax.Array, label_c: jax.Array, *, eta: float, r_pos: float,
                     r_neg: float) -> jax.Array:
  """r_N = eta N+ R+ + (1 - eta) N- R- (the REINFORCE paper, Eq. 7): [].

  N+ counts the predicted classes in the label set (true positives), N- the predicted classes
  outside it (false positives); R+ > 0 pays each true positive, R- < 0 charges each false one.
  The reward comes at the last step only (0 before).

  Args:
    pred_c: bool [C] predicted classes; label_c: [C] multi-hot (one-hot for one label).
  """
  chex.assert_rank([pred_c, label_c], 1)
  truth = label_c > 0.5
  n_pos = jnp.sum(pred_c & truth).astype(jnp.float32)
  n_neg = jnp.sum(pred_c & ~truth).astype(jnp.float32)
  return eta * n_pos * r_pos + (1.0 - eta) * n_neg * r_neg


def attention_penalty(probs_ti: jax.Array) -> jax.Array:
  """sum_i (1 - sum_t l_{t,i})^2: the doubly stochastic penalty (Xu et al. 2015; Sharma et al.
  2015; the REINFORCE paper's Eq. 8 without its lambda): []."""
  chex.assert_rank(probs_ti, 2)
  return jnp.sum((1.0 - probs_ti.sum(0)) ** 2)


def step_loss(logits_tc: jax.Array, label_c: jax.Array, multilabel: bool) -> jax.Array:
  """Cross-entropy at every step, averaged over the T steps (the paper sums them: a constant
  factor T, absorbed here so that the rate does not depend on the clip length): [].

  One label: softmax cross-entropy with the class; label sets: the sum over classes of the
  sigmoid cross-entropy with the multi-hot row.
  """
  chex.assert_rank([logits_tc, label_c], [2, 1])
  t = logits_tc.shape[0]
  label_tc = jnp.broadcast_to(label_c, (t, label_c.shape[0]))
  if multilabel:
    return optax.sigmoid_binary_cross_entropy(logits_tc, label_tc).sum(-1).mean()
  return optax.softmax_cross_entropy(logits_tc, label_tc).mean()
