"""DREAL's per-map reward: the relative drop in the true-class probability under substitution.

  R_l = 1 - p_c(X | A_l replaced by its mean) / p_c(X | all A)   if argmax p(X | all A) = c
  R_l = -gamma                                                   otherwise

R_l lies in (-inf, 1]; the critic's Q_l is an LSTM hidden state in (-1, 1), so the reward is
mapped into that range: 'clip' clips every reward, -gamma included, to [-1, 1] (the default:
keeps R where |R| <= 1, so a useful map's reward is untouched; the target -1 of a wrong
prediction is the bound that the LSTM's tanh approaches); 'tanh' squashes the
correct-prediction reward with tanh (order preserving, no flat region), and leaves the
wrong-prediction reward -gamma as is (keep gamma < 1 for a reachable target).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

TRANSFORMS = ("clip", "tanh")


def substitution_reward(p_full: jax.Array, p_sub: jax.Array, correct: jax.Array, *,
                        gamma: float = 1.0, transform: str = "clip") -> jax.Array:
  """Rewards of one example (or any common shape; broadcasting applies).

  Args:
    p_full: p_c(X | all maps), the true-class probability of the unchanged network.
    p_sub: p_c(X | A_l replaced by its mean).
    correct: whether the unchanged network predicts the true class.
    gamma: penalty of a wrong prediction.
    transform: 'clip' or 'tanh' (module docstring).
  """
  chex.assert_equal_shape([p_full, p_sub, correct])
  drop = 1.0 - p_sub / jnp.maximum(p_full, 1e-12)
  if transform == "clip":
    drop = jnp.clip(drop, -1.0, 1.0)
  elif transform == "tanh":
    drop = jnp.tanh(drop)
  else:
    raise ValueError(f"dreal.reward_transform must be one of {TRANSFORMS}, got {transform!r}")
  penalty = -gamma if transform == "tanh" else max(-gamma, -1.0)
  return jnp.where(correct, drop, penalty)
