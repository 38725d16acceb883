"""What a compiled XLA program costs, for the benchmark tools."""

from __future__ import annotations


def compiled_flops(compiled) -> float:
  """XLA's FLOP count of a compiled program (`jax.jit(f).lower(...).compile()`); NaN where
  the backend gives none."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list | tuple) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")
