"""Loss pieces of the top-down + bottom-up attention model (Chen et al. 2021, "Where to look").

Small pure functions on unbatched inputs (vmap them over the batch), rlax style:
  * `td_target`, `q_learning_loss`: the top-down agent's Q-learning (Eqs. 8-9);
  * `binary_patch_entropy`, `entropy_weighted_reinforce_loss`: the bottom-up entropy
    constraint (Eqs. 12-13);
  * `context_vector`, `context_loss`: the bottom-up context constraint (Eq. 11).
Suffixes: `_t` over glimpses ([T]), `_tm1` the state an action was taken in, `_c` classes.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import optax


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


def binary_patch_entropy(patch: jax.Array, threshold: float) -> jax.Array:
  """Binary entropy in bits of a thresholded glimpse (Eq. 12).

  The patch (any shape, e.g. [k, g, g, C] for all scales of one glimpse) is binarised as
  pixel > threshold; with p the fraction of 'on' pixels, H = -p log2 p - (1 - p) log2(1 - p),
  0 log 0 = 0. H is 0 on blank or saturated patches and 1 when half the pixels are on, so
  it scores how much stroke structure a glimpse holds. Not differentiable (a threshold), and
  used only as a constant weight.

  Returns:
    [] float32 in [0, 1].
  """
  p = jnp.mean((patch > threshold).astype(jnp.float32))

  def plogp(x):
    return jnp.where(x > 0, x * jnp.log2(jnp.where(x > 0, x, 1.0)), 0.0)

  return -(plogp(p) + plogp(1.0 - p))


def entropy_weighted_reinforce_loss(
    log_prob_t: jax.Array, reward: jax.Array, baseline_t: jax.Array, entropy_t: jax.Array,
    lam: float,
) -> jax.Array:
  """REINFORCE with each glimpse's term weighted by (H(x_t) + lambda) (Eq. 13).

  J = -sum_t (H(x_t) + lambda) (R - b_t) log pi(l_t | h_{t-1}), where x_t is the glimpse
  read at l_t. A location that brings a rewarded episode a structured (high-entropy) patch is
  reinforced more than one that looked at blank canvas; lambda > 0 keeps every term alive.
  Weights and advantages are constants (`stop_gradient`): only the policy's log-probability
  carries gradient. With entropy_t = 0 and lam = 1 this is `losses.reinforce_loss`.

  Args:
    log_prob_t: [T] log pi(l_t).
    reward: [] the episode's return R.
    baseline_t: [T] b_t.
    entropy_t: [T] H(x_t) from `binary_patch_entropy`.
    lam: lambda.

  Returns:
    [] the surrogate loss.
  """
  chex.assert_rank([log_prob_t, reward, baseline_t, entropy_t], [1, 0, 1, 1])
  chex.assert_equal_shape([log_prob_t, baseline_t, entropy_t])
  weight_t = jax.lax.stop_gradient(entropy_t + lam)
  advantage_t = jax.lax.stop_gradient(reward - baseline_t)
  return -jnp.sum(weight_t * advantage_t * log_prob_t)


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
