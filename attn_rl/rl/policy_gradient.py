"""Policy-gradient losses: REINFORCE with a baseline, its per-step weighted form, the baseline.

Small pure functions on unbatched, time-major per-episode inputs (`[T]` for one episode of T
actions); vmap them over episodes.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


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
  """mean_t (b_t - R)^2; the reward is a target, not a function of parameters.

  `reward` is the episode's return [] or, with rewards along the episode, the return from
  each step on ([T], e.g. DRAM's cumulative reward: `methods/dram/losses.py`).
  """
  chex.assert_rank([baseline_t, reward], [1, {0, 1}])
  return jnp.mean((baseline_t - jax.lax.stop_gradient(reward)) ** 2)


def weighted_reinforce_loss(
    log_prob_t: jax.Array, reward: jax.Array, baseline_t: jax.Array, weight_t: jax.Array,
) -> jax.Array:
  """REINFORCE with each step's term weighted: -sum_t w_t (R - b_t) log pi(a_t | s_t).

  Chen et al. 2021, Eq. 13 uses w_t = H(x_t) + lambda, the entropy of the glimpse read at l_t
  plus a constant (`methods/topdown`). Weights and advantages are constants (`stop_gradient`):
  only the policy's log-probability carries gradient. With w_t = 1 this is `reinforce_loss`.

  Args:
    log_prob_t: [T] log pi(a_t).
    reward: [] the episode's return R, or [T] the return G_t from step t on (rewards along
      the episode: each action is credited with what follows it).
    baseline_t: [T] b_t.
    weight_t: [T] w_t.

  Returns:
    [] the surrogate loss.
  """
  chex.assert_rank([log_prob_t, reward, baseline_t, weight_t], [1, {0, 1}, 1, 1])
  chex.assert_equal_shape([log_prob_t, baseline_t, weight_t])
  weight_t = jax.lax.stop_gradient(weight_t)
  advantage_t = jax.lax.stop_gradient(reward - baseline_t)
  return -jnp.sum(weight_t * advantage_t * log_prob_t)
