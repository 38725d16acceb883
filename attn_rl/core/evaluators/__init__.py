"""Evaluators: turn the summed outputs of a method's eval step into the metrics it reports.

A method names its evaluator in its `Method` record (`evaluator='classification'`); the loop
looks it up here. Retrieval (re-identification) evaluators come with their methods.
`robustness.py` is not an eval-step evaluator: it attacks any method's `make_logits`
classifier (PGD with EOT, SPSA; run by tools/robustness.py on a trained workdir).
"""

from __future__ import annotations

import importlib

# name -> module path; a module provides `summarize(sums: dict) -> dict`.
REGISTRY = {"classification": "attn_rl.core.evaluators.classification"}


def get(name: str):
  if name not in REGISTRY:
    raise ValueError(f"evaluator {name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return importlib.import_module(REGISTRY[name])
