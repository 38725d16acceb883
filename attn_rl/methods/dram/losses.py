"""DRAM's sequence pieces: which label positions count, the rewards, the returns, the loss,
and the scores. Small pure functions on one example (vmap them over the batch), rlax style.

Suffixes: `_s` over label positions ([S]), `_t` over glimpses ([N] = glimpses_per_label x S),
`_c` over classes (10 digits and END; MNIST addition's 19 sums). Label s is emitted after
glimpse (s + 1) k - 1, with k glimpses per label.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def valid_positions(length: jax.Array, positions: int, fixed: bool) -> jax.Array:
  """bool [S]: the positions a label sequence of `length` digits scores.

  Variable lengths: the digits and the END after them (s <= length); fixed lengths (pairs):
  the digits only (s < length). Positions after the END carry no loss and no reward.
  """
  chex.assert_rank(length, 0)
  s = jnp.arange(positions)
  return s < length if fixed else s <= length


def label_rewards(pred_s: jax.Array, label_s: jax.Array, valid_s: jax.Array) -> jax.Array:
  """r_s = 1 if labels 0..s are all predicted right (and s is valid), else 0: float [S].

  Summed over s this counts the correct labels up to the first error (DRAM's cumulative
  reward on sequences).
  """
  chex.assert_rank([pred_s, label_s, valid_s], 1)
  right = (pred_s == label_s) | ~valid_s
  return (jnp.cumprod(right.astype(jnp.float32)) * valid_s).astype(jnp.float32)


def returns_to_go(reward_s: jax.Array, glimpses_per_label: int) -> jax.Array:
  """G_t = sum of the rewards of the labels emitted at or after glimpse t: float [N].

  Location l_t is chosen before glimpse t, so it is credited with every label emitted from
  then on (the labels before it were decided without it).
  """
  chex.assert_rank(reward_s, 1)
  k = glimpses_per_label
  per_glimpse = jnp.zeros((reward_s.shape[0], k)).at[:, k - 1].set(reward_s).reshape(-1)
  return jnp.flip(jnp.cumsum(jnp.flip(per_glimpse)))


def sequence_return(pred_s: jax.Array, label_s: jax.Array, valid_s: jax.Array,
                    glimpses_per_label: int, kind: str) -> jax.Array:
  """G_t [N] of an episode: 'cumulative' (`label_rewards`, then `returns_to_go`) or
  'sequence' (1 for every t if the whole sequence is right, else 0)."""
  rewards = label_rewards(pred_s, label_s, valid_s)
  if kind == "cumulative":
    return returns_to_go(rewards, glimpses_per_label)
  if kind == "sequence":
    right = jnp.all((pred_s == label_s) | ~valid_s).astype(jnp.float32)
    return jnp.full((pred_s.shape[0] * glimpses_per_label,), right)
  raise ValueError(f"rl.reward must be 'cumulative' or 'sequence', got {kind!r}.")


def sequence_loss(logits_sc: jax.Array, label_s: jax.Array, valid_s: jax.Array) -> jax.Array:
  """-log p(y | x) = -sum over valid positions of log softmax(logits_s)[y_s]: []."""
  chex.assert_rank([logits_sc, label_s, valid_s], [2, 1, 1])
  ce = optax.softmax_cross_entropy_with_integer_labels(logits_sc, label_s)
  return jnp.sum(jnp.where(valid_s, ce, 0.0))


def sequence_sums(pred: jax.Array, label: jax.Array, length: jax.Array, mask: jax.Array,
                  fixed: bool, suffix: str = "") -> dict:
  """Masked sums for `evaluators.classification` from predicted labels pred [B, S].

  correct<suffix>         whole sequences right (every valid position: the digits and, for
                          variable lengths, the END at position `length`)
  correct_digit<suffix>   digits right at their position, over count_digit<suffix> digits
  """
  valid = jax.vmap(lambda n: valid_positions(n, label.shape[1], fixed))(length)
  whole = jnp.all((pred == label) | ~valid, axis=1)
  digit = (jnp.arange(label.shape[1])[None] < length[:, None])
  return {
      f"correct{suffix}": jnp.sum(mask * whole),
      f"correct_digit{suffix}": jnp.sum(mask[:, None] * digit * (pred == label)),
      f"count_digit{suffix}": jnp.sum(mask[:, None] * digit),
  }
