"""Evaluators: turn the outputs of a method's eval step into the metrics it reports.

A method names its evaluator in its `Method` record (`evaluator='classification'`); the loop
looks it up here. An evaluator module provides `accumulate(acc, out) -> acc` (acc None before
the first batch: classification sums on the device, retrieval keeps every example's rows) and
`summarize(acc) -> dict` of metrics (video: clips scored per clip and per video).
`robustness.py` is not an eval-step evaluator: it attacks any method's `make_logits`
classifier (PGD with EOT, SPSA; run by tools/robustness.py on a trained workdir).
"""

from __future__ import annotations

import importlib

# name -> module path of an evaluator (`accumulate`, `summarize`).
REGISTRY = {"classification": "attn_rl.core.evaluators.classification",
            "retrieval": "attn_rl.core.evaluators.retrieval",
            "video": "attn_rl.core.evaluators.video"}


def get(name: str):
  if name not in REGISTRY:
    raise ValueError(f"evaluator {name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return importlib.import_module(REGISTRY[name])
