"""Diagonal Gaussian with fixed standard deviation: the location policy's log-probability."""

from __future__ import annotations

import math

import jax


def gaussian_log_prob(x: jax.Array, mean: jax.Array, std: float) -> jax.Array:
  """log N(x; mean, std^2 I), summed over the last axis: [..., D] -> [...]."""
  z = (x - mean) / std
  per_dim = -0.5 * z**2 - math.log(std) - 0.5 * math.log(2 * math.pi)
  return per_dim.sum(-1)
