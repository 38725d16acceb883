"""Value learning: the one-step TD target and the Q-learning loss (Watkins; as in rlax).

Equation numbers are those of Chen et al. 2021 ("Where to look"), whose top-down agent is the
first user.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def td_target(r_t: jax.Array, discount_t: jax.Array, q_t: jax.Array) -> jax.Array:
  """y = r_t + discount_t * max_a' Q_target(s_t, a') (Eq. 9), held constant.

  Args:
    r_t: [] reward after the action.
    discount_t: [] gamma, or 0 when s_t is terminal (then y = r_t and q_t is ignored).
    q_t: [A] target-network Q-values of the next state s_t.

  Returns:
    [] the target, under `stop_gradient`: a regression target, never a function to train.
  """
  chex.assert_rank([r_t, discount_t, q_t], [0, 0, 1])
  return jax.lax.stop_gradient(r_t + discount_t * jnp.max(q_t))


def q_learning_loss(
    q_tm1: jax.Array, a_tm1: jax.Array, r_t: jax.Array, discount_t: jax.Array, q_t: jax.Array
) -> jax.Array:
  """(Q(s_tm1, a_tm1) - y)^2 with y from `td_target` (Eq. 8).

  Args:
    q_tm1: [A] online Q-values of the state the action was chosen in.
    a_tm1: [] int, the chosen action (region index).
    r_t, discount_t, q_t: as in `td_target`.

  Returns:
    [] squared TD error; its gradient reaches q_tm1[a_tm1] only.
  """
  chex.assert_rank([q_tm1, a_tm1], [1, 0])
  chex.assert_type(a_tm1, int)
  y = td_target(r_t, discount_t, q_t)
  return (q_tm1[a_tm1] - y) ** 2
