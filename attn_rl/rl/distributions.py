"""Diagonal Gaussian with fixed standard deviation: sample, log-probability, entropy."""

from __future__ import annotations

import math

import jax


def gaussian_sample(key: jax.Array, mean: jax.Array, std: float) -> jax.Array:
  """x ~ N(mean, std^2 I), same shape as mean."""
  return mean + std * jax.random.normal(key, mean.shape, mean.dtype)


def gaussian_log_prob(x: jax.Array, mean: jax.Array, std: float) -> jax.Array:
  """log N(x; mean, std^2 I), summed over the last axis: [..., D] -> [...]."""
  z = (x - mean) / std
  per_dim = -0.5 * z**2 - math.log(std) - 0.5 * math.log(2 * math.pi)
  return per_dim.sum(-1)


def gaussian_entropy(std: float, dim: int) -> float:
  """Entropy of N(., std^2 I_dim) in nats."""
  return dim * (0.5 * math.log(2 * math.pi * math.e) + math.log(std))
