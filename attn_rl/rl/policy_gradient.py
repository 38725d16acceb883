"""RL and supervised losses as small pure functions on unbatched inputs (vmap them).

Time-major per-episode inputs: `[T]` for one episode of T actions.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


def reinforce_loss(log_prob_t: jax.Array, reward: jax.Array, baseline_t: jax.Array) -> jax.Array:
  """Surrogate whose gradient is minus the REINFORCE estimate with a baseline.

  Mnih et al. 2014, Eq. 2 with variance reduction: grad J ~ sum_t grad log pi(l_t) (R - b_t).
  The advantage is held constant (`stop_gradient`): the baseline is trained by its own loss,
  never by the policy gradient.

  Args:
    log_prob_t: [T] log pi(a_t | s_t).
    reward: [] the episode's return R (terminal reward, undiscounted).
    baseline_t: [T] b_t.

  Returns:
    [] -sum_t (R - b_t) log pi(a_t | s_t).
  """
  chex.assert_rank([log_prob_t, reward, baseline_t], [1, 0, 1])
  advantage_t = jax.lax.stop_gradient(reward - baseline_t)
  return -jnp.sum(advantage_t * log_prob_t)


def baseline_loss(baseline_t: jax.Array, reward: jax.Array) -> jax.Array:
  """mean_t (b_t - R)^2; the reward is a target, not a function of parameters."""
  chex.assert_rank([baseline_t, reward], [1, 0])
  return jnp.mean((baseline_t - jax.lax.stop_gradient(reward)) ** 2)


def classification_loss(logits: jax.Array, label: jax.Array) -> jax.Array:
  """-log softmax(logits)[label] for logits [C] and an int label []."""
  chex.assert_rank([logits, label], [1, 0])
  return optax.softmax_cross_entropy_with_integer_labels(logits, label)


def correct_reward(logits: jax.Array, label: jax.Array) -> jax.Array:
  """RAM's reward: 1 if argmax(logits) == label else 0 (float32 [])."""
  chex.assert_rank([logits, label], [1, 0])
  return (jnp.argmax(logits) == label).astype(jnp.float32)
