"""Where a compiled step spends its time: per-op device time from a jax.profiler trace,
attributed to model components through the compiled HLO's op_name metadata.

  profile = op_profile.profile(step_fn, args, run=lambda: ..., steps=30,
                               components=RAM_COMPONENTS)

`step_fn` is the jitted function and `args` its arguments (used only to lower and compile it,
which gives the same HLO, hence the same instruction names, as the executable `run` calls).
Each HLO instruction that ran is charged to the first component whose name occurs in its
op_name (Flax module names such as 'CoreNetwork', or a `jax.named_scope`), and to a pass:
'forward' (under jvp), 'backward' (under transpose) or 'update' (the optimizer and the rest).
Times are summed over the ops of every thread, so with intra-op threads running side by side
the sum can exceed the wall time; fractions of that sum are what the breakdown reports.

`dot_census` and `dot_rows` bound a step from below by its matmuls alone: the step's
`dot_general`s are counted from its jaxpr (forward and backward; a `scan` body counts once per
iteration), grouped by shape and dimension numbers, and each group's dot is timed alone (one
jitted program of `copies` independent dots on distinct operands: the same kind of separate
library call the step makes). `summarize_dots` gives the sum of those times against the step's
(`dot_share`) and the best fraction of matmul peak the step's dot shapes reach
(`dots_alone_fraction_of_matmul_peak`): the step's own fraction cannot exceed it, and what it
reaches below that goes to its other ops. The re-created dots contract the same dimensions as
the step's but may not keep the memory order XLA chose for them.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import math
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core

RAM_COMPONENTS = ("sensor", "GlimpseNetwork", "CoreNetwork", "LocationNetwork",
                  "BaselineNetwork", "ActionNetwork")

# `  %name = shape op(...), ..., metadata={op_name="jit(f)/..." ...}` (optionally after ROOT).
_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=.*?metadata=\{[^}]*op_name=\"([^\"]*)\"")


def hlo_op_names(hlo_text: str) -> dict[str, str]:
  """{HLO instruction name: op_name metadata} of a compiled module's text."""
  names = {}
  for line in hlo_text.splitlines():
    m = _INSTRUCTION.match(line)
    if m:
      names[m.group(1)] = m.group(2)
  return names


def trace_op_microseconds(logdir: str, names: set[str]) -> collections.Counter:
  """Summed duration (us) of each complete event named in `names`, from the newest trace."""
  files = sorted(glob.glob(os.path.join(logdir, "**", "*.trace.json.gz"), recursive=True))
  if not files:
    raise FileNotFoundError(f"jax.profiler wrote no *.trace.json.gz under {logdir}.")
  with gzip.open(files[-1]) as f:
    events = json.load(f)["traceEvents"]
  total = collections.Counter()
  for e in events:
    if e.get("ph") == "X" and e.get("name") in names:
      total[e["name"]] += e["dur"]
  return total


def pass_of(op_name: str) -> str:
  if "transpose(jvp" in op_name:
    return "backward"
  if "jvp(" in op_name:
    return "forward"
  return "update"


def component_of(op_name: str, components: Sequence[str]) -> str:
  for c in components:
    # Scope names are delimited by '/' or, at the top of a transformed function, by 'jvp(...)'.
    if re.search(rf"(^|[/(]){re.escape(c)}([/)]|$)", op_name):
      return c
  return f"other ({pass_of(op_name)})"


def breakdown(op_us: collections.Counter, op_names: dict[str, str], steps: int,
              components: Sequence[str], top: int = 15) -> dict:
  """Per-step seconds summed over ops; fractions by component and by pass; the top ops."""
  total = sum(op_us.values())
  if not total:
    raise ValueError("The trace has no events for the compiled step's instructions.")
  by_component, by_pass = collections.Counter(), collections.Counter()
  for name, us in op_us.items():
    by_component[component_of(op_names[name], components)] += us
    by_pass[pass_of(op_names[name])] += us
  frac = lambda c: {k: v / total for k, v in sorted(c.items(), key=lambda kv: -kv[1])}
  return {
      "op_seconds_per_step": total / steps / 1e6,
      "by_component": frac(by_component),
      "by_pass": frac(by_pass),
      "top_ops": [{"hlo": n, "op_name": op_names[n], "fraction": us / total}
                  for n, us in op_us.most_common(top)],
  }


def profile(step_fn, args: tuple, run: Callable[[], None], steps: int,
            components: Sequence[str] = RAM_COMPONENTS) -> dict:
  """Traces `run()` (which should call `step_fn` `steps` times and block) and breaks it down."""
  op_names = hlo_op_names(step_fn.lower(*args).compile().as_text())
  with tempfile.TemporaryDirectory() as logdir:
    jax.profiler.start_trace(logdir)
    try:
      run()
    finally:
      jax.profiler.stop_trace()
    op_us = trace_op_microseconds(logdir, set(op_names))
  return breakdown(op_us, op_names, steps, components)


Dot = collections.namedtuple("Dot", "lhs rhs dimension_numbers")


def dot_census(jaxpr) -> collections.Counter:
  """Counter of Dot(lhs shape, rhs shape, dimension_numbers) -> executions per call of a
  closed jaxpr, descending into every sub-jaxpr; a scan's body counts `length` times. A while
  loop's body (trip count not in the jaxpr) and every branch of a cond count once: the RAM
  steps have neither around a dot (their while loops are the PRNG's)."""
  counts = collections.Counter()

  def visit(jx, times):
    for eqn in jx.eqns:
      if eqn.primitive.name == "dot_general":
        lhs, rhs = (tuple(v.aval.shape) for v in eqn.invars)
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        dims = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
        counts[Dot(lhs, rhs, dims)] += times
      inner = times * (eqn.params["length"] if eqn.primitive.name == "scan" else 1)
      for sub in jax_core.jaxprs_in_params(eqn.params):
        visit(sub, inner)

  visit(jaxpr.jaxpr, 1)
  return counts


def dot_flops(dot: Dot) -> int:
  """2 x (batch) x (lhs free) x (rhs free) x (contracted) multiply-adds of one dot."""
  (lc, rc), (lb, rb) = dot.dimension_numbers
  contracted = math.prod(dot.lhs[d] for d in lc)
  batch = math.prod(dot.lhs[d] for d in lb)
  lhs_free = math.prod(s for d, s in enumerate(dot.lhs) if d not in lc + lb)
  rhs_free = math.prod(s for d, s in enumerate(dot.rhs) if d not in rc + rb)
  return 2 * batch * lhs_free * rhs_free * contracted


def time_dot(dot: Dot, copies: int, repeats: int) -> float:
  """Median seconds of one such dot, from `copies` independent ones in one program."""
  keys = jax.random.split(jax.random.key(0), 2 * copies)
  lhs = [jax.random.normal(k, dot.lhs, jnp.float32) for k in keys[:copies]]
  rhs = [jax.random.normal(k, dot.rhs, jnp.float32) for k in keys[copies:]]
  f = jax.jit(lambda ls, rs: tuple(jax.lax.dot_general(a, b, dot.dimension_numbers)
                                   for a, b in zip(ls, rs, strict=True)))
  jax.block_until_ready(f(lhs, rhs))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(f(lhs, rhs))
    times.append((time.perf_counter() - t) / copies)
  return statistics.median(times)


def dot_rows(counts: collections.Counter, copies: int, repeats: int, peak: float) -> list:
  rows = []
  for dot, n in counts.most_common():
    seconds = time_dot(dot, copies, repeats)
    flops = dot_flops(dot)
    rows.append({"lhs": list(dot.lhs), "rhs": list(dot.rhs),
                 "dimension_numbers": [list(map(list, p)) for p in dot.dimension_numbers],
                 "count_per_step": n, "flops": flops, "seconds_alone": seconds,
                 "fraction_of_matmul_peak": flops / seconds / peak})
  return sorted(rows, key=lambda r: -r["count_per_step"] * r["seconds_alone"])


def summarize_dots(rows: list, step_seconds: float, peak: float) -> dict:
  alone = sum(r["count_per_step"] * r["seconds_alone"] for r in rows)
  flops = sum(r["count_per_step"] * r["flops"] for r in rows)
  return {"dot_flops_per_step": flops, "dots_alone_seconds": alone,
          "step_seconds": step_seconds, "dot_share": alone / step_seconds,
          "dots_alone_fraction_of_matmul_peak": flops / alone / peak,
          "step_dot_flops_fraction_of_matmul_peak": flops / step_seconds / peak}
