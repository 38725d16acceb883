"""Helpers shared by the test files: load a config file as a test runs it, read metrics."""

import importlib.util
import json
import os
import re
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


_HEADER = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$")
_CALLED = re.compile(r"\b(?:body|condition|calls|to_apply)=%([\w.\-]+)")
_CALLED_LISTS = re.compile(r"\b(?:branch_computations|called_computations)=\{([^}]*)\}")


def collectives_in_loops(hlo_text: str, kind: str = "all-gather") -> list[str]:
  """The `kind` collectives a compiled module's text (`compiled.as_text()`) runs inside while
  loops (in a loop's body or condition, or what they call), as 'computation: instruction'."""
  computations, current = {}, None
  for line in hlo_text.splitlines():
    header = _HEADER.match(line)
    if header:
      current = computations.setdefault(header.group(1), [])
    elif current is not None and line.startswith(" "):
      current.append(line.strip())
  calls = {}
  for name, lines in computations.items():
    text = "\n".join(lines)
    called = set(_CALLED.findall(text))
    for group in _CALLED_LISTS.findall(text):
      called |= {c.strip().lstrip("%") for c in group.split(",")}
    calls[name] = called
  loops = {c for lines in computations.values() for line in lines if " while(" in line
           for c in re.findall(r"\b(?:body|condition)=%([\w.\-]+)", line)}
  inside, stack = set(), list(loops)
  while stack:
    name = stack.pop()
    if name not in inside and name in computations:
      inside.add(name)
      stack += calls[name]
  op = re.compile(rf"= .*\b{re.escape(kind)}(?:-start)?\(")
  return [f"{name}: {line[:120]}" for name in sorted(inside) for line in computations[name]
          if op.search(line)]
