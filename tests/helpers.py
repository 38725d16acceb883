"""Helpers shared by the test files: load a config file as a test runs it, read metrics."""

import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The loop-level tests (resume, signals, bad input) run on this one.
RAM_CONFIG = os.path.join(ROOT, "configs", "ram_clutter.py")


def load_config(path, arg="quicktest", **overrides):
  """config file `path` at variant `arg`, on synthetic data, with {'group.key': value} set."""
  spec = importlib.util.spec_from_file_location("cfg", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(arg)
  with config.unlocked():
    config.data.source = "synthetic"  # Tests never need the real dataset.
    for key, value in overrides.items():
      group, name = key.split(".")
      config[group][name] = value
  return config


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]
