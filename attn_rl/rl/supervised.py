"""The supervised pieces of attention agents: the classifier's loss and its 0/1 reward."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def classification_loss(logits: jax.Array, label: jax.Array) -> jax.Array:
  """-log softmax(logits)[label] for logits [C] and an int label []."""
  chex.assert_rank([logits, label], [1, 0])
  return optax.softmax_cross_entropy_with_integer_labels(logits, label)


def correct_reward(logits: jax.Array, label: jax.Array) -> jax.Array:
  """RAM's reward: 1 if argmax(logits) == label else 0 (float32 [])."""
  chex.assert_rank([logits, label], [1, 0])
  return (jnp.argmax(logits) == label).astype(jnp.float32)
