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
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence

import jax

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
