"""Every recorded and documented command still parses: the commands of results/*/run.json and
the `python -m attn_rl...` lines of the README and docs name modules that exist, and their
--config arguments (file, variants, overrides) build a config the method accepts."""

import glob
import importlib.util
import json
import os
import re
import shlex

import pytest

from attn_rl.core import method as method_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _recorded_commands() -> list[str]:
  out = []
  for path in sorted(glob.glob(os.path.join(ROOT, "results", "**", "run.json"), recursive=True)):
    with open(path) as f:
      command = json.load(f).get("command")
    if command:
      out.append(command)
  return out


def _documented_lines() -> list[str]:
  lines = []
  for path in [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs",
                                                                              "*.md")))]:
    with open(path) as f:
      text = f.read().replace("\\\n", " ")  # A shell line continuation joins its lines.
    lines += [m.group(0) for m in re.finditer(r"python -m attn_rl[\w.]*[^\n`]*", text)]
  return lines


def test_there_are_commands_to_check():
  assert len(_recorded_commands()) > 40 and len(_documented_lines()) > 10


@pytest.mark.parametrize("line", sorted({ln for ln in _documented_lines() if "<" not in ln}))
def test_documented_modules_exist(line):
  module = line.split()[2]
  assert importlib.util.find_spec(module) is not None, f"{module} (from: {line})"


def _value(text: str, current):
  """A --config.x=text override as config_flags reads it: the type of the current value."""
  if isinstance(current, bool):
    assert text in ("True", "False", "true", "false"), text
    return text.lower() == "true"
  if current is None:
    return None if text == "None" else text
  return type(current)(text)


def _parse(command: str):
  """The config that `python -m attn_rl.main <args>` trains: file, variants, overrides."""
  argv = shlex.split(command.replace("\\\n", " "))
  args = dict(a[2:].split("=", 1) for a in argv[argv.index("attn_rl.main") + 1:]
              if a.startswith("--"))
  path, _, variant = args.pop("config").partition(":")
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(variant or None)
  for key, text in args.items():
    if key.startswith("config."):
      *groups, name = key[len("config."):].split(".")
      node = config
      for g in groups:
        node = node[g]
      node[name] = _value(text, node[name])  # A locked config refuses unknown keys.
    else:
      assert key in ("workdir", "max_steps_this_run"), key
  return config


@pytest.mark.parametrize("command", sorted(set(_recorded_commands()) | {
    line for line in _documented_lines() if line.startswith("python -m attn_rl.main ")
    and "--config=configs/" in line and "<" not in line and "$" not in line}))
def test_training_commands_build_valid_configs(command):
  config = _parse(command)
  method_lib.get(config.method).validate(config)
