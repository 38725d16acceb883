"""Helpers shared by the test files: load a config file as a test runs it, read metrics."""

import importlib.util
import json
import os
import signal

from attn_rl.data import batching

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


def interrupt_training_at(monkeypatch, fetches, signals=1):
  """The loop's training data sends this process `signals` SIGTERMs when fetch i in `fetches`
  of a run started from step 0 is taken."""
  real = batching.train_dataset

  def interrupting(batches, start, num_steps, prefetch):
    for i, batch in enumerate(real(batches, start, num_steps, prefetch)):
      if start == 0 and i in fetches:
        for _ in range(signals):
          os.kill(os.getpid(), signal.SIGTERM)
      yield batch

  monkeypatch.setattr(batching, "train_dataset", interrupting)
