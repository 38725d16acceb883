"""Loss pieces of the top-down + bottom-up attention model (Chen et al. 2021, "Where to look").

Small pure functions on unbatched inputs (vmap them over the batch), rlax style:
  * `entropy_weighted_reinforce_loss`: the bottom-up entropy constraint (Eq. 13), on the glimpse
    entropies of `glimpse.sensor.binary_patch_entropy` (Eq. 12);
  * `context_vector`, `context_loss`: the bottom-up context constraint (Eq. 11).
The top-down agent's Q-learning (Eqs. 8-9) is `rl.value_learning`.
Suffixes: `_t` over glimpses ([T]), `_c` classes.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax

from attn_rl.rl import policy_gradient


def entropy_weighted_reinforce_loss(
    log_prob_t: jax.Array, reward: jax.Array, baseline_t: jax.Array, entropy_t: jax.Array,
    lam: float,
) -> jax.Array:
  """REINFORCE with each glimpse's term weighted by (H(x_t) + lambda) (Eq. 13).

  J = -sum_t (H(x_t) + lambda) (R - b_t) log pi(l_t | h_{t-1}), where x_t is the glimpse
  read at l_t. A location that brings a rewarded episode a structured (high-entropy) patch is
  reinforced more than one that looked at blank canvas; lambda > 0 keeps every term alive.
  `rl.policy_gradient.weighted_reinforce_loss` with w_t = H(x_t) + lambda: weights and
  advantages are constants. With entropy_t = 0 and lam = 1 this is plain REINFORCE.

  Args:
    log_prob_t: [T] log pi(l_t).
    reward: [] the episode's return R, or [T] the return from each glimpse on (DRAM's
      cumulative reward on sequences).
    baseline_t: [T] b_t.
    entropy_t: [T] H(x_t) from `glimpse.sensor.binary_patch_entropy`.
    lam: lambda.

  Returns:
    [] the surrogate loss.
  """
  chex.assert_rank(entropy_t, 1)
  return policy_gradient.weighted_reinforce_loss(log_prob_t, reward, baseline_t, entropy_t + lam)


def context_vector(alpha_tc: jax.Array, h_td: jax.Array) -> jax.Array:
  """C = sum_t alpha_t H_t (Eq. 11).

  alpha_t is the classifier's softmax output at glimpse t, a distribution over classes, and
  H_t the core state. For the product to be a vector of the core's size, alpha_t enters as
  its confidence max_c alpha_{t,c}: glimpses after which the classifier is sure of a class
  contribute more of their state to the context. The confidence uses no label, so C is
  available at test time. Gradient flows into both factors: the constraint is meant to shape
  the bottom-up representation.

  Args:
    alpha_tc: [T, C] class probabilities after each glimpse.
    h_td: [T, D] core states.

  Returns:
    [D] the context vector.
  """
  chex.assert_rank([alpha_tc, h_td], [2, 2])
  chex.assert_equal_shape_prefix([alpha_tc, h_td], 1)
  return jnp.sum(jnp.max(alpha_tc, axis=-1)[:, None] * h_td, axis=0)


def context_loss(context_logits_c: jax.Array, label: jax.Array) -> jax.Array:
  """-y log Z with Z = softmax(f_c(C)) (the beta1 term of Eq. 14); logits [C], int label []."""
  chex.assert_rank([context_logits_c, label], [1, 0])
  return optax.softmax_cross_entropy_with_integer_labels(context_logits_c, label)
