"""What a compiled XLA program costs, for the benchmark tools."""

from __future__ import annotations

import time

import jax


def compiled_flops(compiled) -> float:
  """XLA's FLOP count of a compiled program (`jax.jit(f).lower(...).compile()`); NaN where
  the backend gives none."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, list | tuple) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


class TimedStep:
  """A method's jitted train step on one fixed batch, for the benchmark tools: XLA's FLOPs of
  the step and of the inference forward pass per example, the forward's output (computed
  before any step: the step donates the state), and step times of `run`."""

  def __init__(self, method, config, model, state, batch, *, batch_size: int):
    self.state, self.batch, self.key = state, batch, jax.random.key(1)
    self.step = jax.jit(method.make_train_step(config, model), donate_argnums=(0,))
    self.train_flops = compiled_flops(
        self.step.lower(state, batch, self.key).compile()) / batch_size
    params = method.inference_params(state)
    predict = jax.jit(method.make_predict(model))
    self.forward_flops = compiled_flops(
        predict.lower(params, batch["image"], self.key).compile()) / batch_size
    self.forward_out = predict(params, batch["image"], self.key)
    self.params = sum(x.size for x in jax.tree.leaves(params))
    self._seconds_per_step(2)  # Warm up; not kept.
    self.times: list[float] = []

  def _seconds_per_step(self, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
      self.state, metrics = self.step(self.state, self.batch, self.key)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / steps

  def run(self, steps: int) -> None:
    """Times `steps` steps; appends the seconds per step to `times`."""
    self.times.append(self._seconds_per_step(steps))


def time_alternately(timers: list[TimedStep], *, repeats: int, steps: int) -> None:
  """`repeats` runs of `steps` steps of each timer, the timers alternating, so that
  background load on a shared machine hits them all alike."""
  for _ in range(repeats):
    for t in timers:
      t.run(steps)
