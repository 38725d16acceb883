"""Evaluators: turn the summed outputs of a method's eval step into the metrics it reports.

A method names its evaluator in its `Method` record (`evaluator='classification'`); the loop
looks it up here. Retrieval (re-identification) and robustness evaluators come with their
methods.
"""

from __future__ import annotations

import importlib

# name -> module path; a module provides `summarize(sums: dict) -> dict`.
REGISTRY = {"classification": "attn_rl.core.evaluators.classification"}


def get(name: str):
  if name not in REGISTRY:
    raise ValueError(f"evaluator {name!r} is not one of {', '.join(sorted(REGISTRY))}.")
  return importlib.import_module(REGISTRY[name])
