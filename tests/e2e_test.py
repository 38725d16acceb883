"""The loop through the RAM quicktest: signals, NaN, config checks, bad input, the CLI and the
visualize tool (every config's quicktest end to end: tests/contract_test.py)."""

import glob
import importlib.util
import json
import os
import signal
import subprocess
import sys

import jax
import pytest

from attn_rl.core import checkpointing, loop, parallel
from attn_rl.data import batching

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The loop-level tests (resume, signals, bad input) run on this one.
RAM_CONFIG = os.path.join(ROOT, "configs", "ram_clutter.py")


def load_config(path, arg="quicktest", **overrides):
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


def test_sigterm_checkpoints_and_rerun_resumes(tmp_path, monkeypatch):
  config = load_config(RAM_CONFIG)
  real = batching.train_dataset

  def interrupting(batches, start, num_steps, prefetch):
    for i, batch in enumerate(real(batches, start, num_steps, prefetch)):
      if start == 0 and i == 2:
        os.kill(os.getpid(), signal.SIGTERM)
      yield batch

  monkeypatch.setattr(batching, "train_dataset", interrupting)
  workdir = str(tmp_path / "w")
  first = loop.train_and_evaluate(config, workdir)
  assert not first["finished"] and first["step"] == 3
  assert checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                    max_to_keep=2).latest_step() == 3
  assert loop.train_and_evaluate(config, workdir)["finished"]


def test_non_finite_loss_stops_naming_the_step(tmp_path):
  config = load_config(RAM_CONFIG, **{"optim.learning_rate": float("nan"),
                                      "optim.schedule": "constant"})
  with pytest.raises(FloatingPointError, match="Non-finite loss at step 2"):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def test_checkpoint_from_another_config_is_refused(tmp_path):
  workdir = str(tmp_path / "w")
  loop.train_and_evaluate(load_config(RAM_CONFIG), workdir, max_steps_this_run=2)
  other = load_config(RAM_CONFIG, **{"model.num_glimpses": 3})
  with pytest.raises(checkpointing.ConfigMismatchError, match="model.num_glimpses"):
    loop.train_and_evaluate(other, workdir)
  # Logging and checkpoint cadence may change between runs.
  ok = load_config(RAM_CONFIG, **{"log.every_steps": 3})
  assert loop.train_and_evaluate(ok, workdir)["finished"]


@pytest.mark.parametrize("key,value,message", [
    ("data.task", "rotated", "data.task='rotated' is not one of"),
    ("model.core", "gru", "model.core='gru'"),
    ("model.loc_std", 0.0, "model.loc_std=0.0 must be a positive"),
    ("optim.location_lr_scale", -1.0, "optim.location_lr_scale=-1.0 must be a positive"),
    ("model.unroll", None, "model.unroll=None must be True or False"),
    ("model.num_scales", 6, "lower model.num_scales"),
    ("train.batch_size", 12, "train.batch_size=12 does not divide over the 8 devices"),
    ("eval.batch_size", 30, "eval.batch_size=30 does not divide"),
    ("mesh.data", 16, "mesh.data=16 but 8 devices exist"),
])
def test_bad_config_values_give_clear_errors(tmp_path, key, value, message):
  config = load_config(RAM_CONFIG, **{key: value})
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def test_unknown_variant_and_unknown_key():
  with pytest.raises(ValueError, match="Unknown config variant 'quick'"):
    load_config(RAM_CONFIG, arg="quick")
  config = load_config(RAM_CONFIG)
  with pytest.raises(AttributeError):
    config.model.num_glimpse = 3  # A typo is an error, not a new key.


def test_ram_config_variants():
  path = os.path.join(ROOT, "configs", "ram_mnist.py")
  assert load_config(path, arg="glimpses7").model.num_glimpses == 7
  assert load_config(path, arg=None).model.num_glimpses == 6
  long, default = load_config(RAM_CONFIG, arg="long"), load_config(RAM_CONFIG, arg=None)
  assert (long.train.num_steps, long.model.location_mean) == (60000, "tanh")
  long100k = load_config(RAM_CONFIG, arg="long100k")
  assert (long100k.train.num_steps, long100k.model.location_mean) == (100000, "tanh")
  long100 = load_config(os.path.join(ROOT, "configs", "ram_clutter100.py"), arg="long")
  assert (long100.train.num_steps, long100.model.location_mean) == (150000, "tanh")
  translated = os.path.join(ROOT, "configs", "ram_translated.py")
  long_translated = load_config(translated, arg="long")
  assert (long_translated.train.num_steps, long_translated.model.location_mean) == (120000, "tanh")
  assert load_config(translated, arg=None).model.location_mean == "linear"
  assert (default.train.num_steps, default.model.location_mean) == (30000, "linear")


def test_missing_dataset_error_from_the_loop(tmp_path):
  config = load_config(RAM_CONFIG, **{"data.source": "tfds", "data.tfds_data_dir": str(tmp_path)})
  with pytest.raises(FileNotFoundError, match="TFDS_DATA_DIR=../shared/data/tensorflow_datasets"):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def test_cli_runs_and_visualize_draws(tmp_path):
  env = {**os.environ, "XLA_FLAGS": ""}
  workdir = str(tmp_path / "cli")
  cmd = [sys.executable, "-m", "attn_rl.main", f"--config={RAM_CONFIG}:quicktest",
         "--config.data.source=synthetic", f"--workdir={workdir}"]
  subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
  assert json.load(open(os.path.join(workdir, "results.json")))["finished"]
  out = str(tmp_path / "pics")
  subprocess.run([sys.executable, "-m", "attn_rl.tools.visualize", f"--workdir={workdir}",
                  f"--out={out}", "--num=2"], check=True, env=env, cwd=ROOT, capture_output=True)
  assert len(glob.glob(os.path.join(out, "*.gif"))) == 2
  assert len(glob.glob(os.path.join(out, "*.png"))) == 2


def test_default_workdir():
  from attn_rl import main
  assert main.default_workdir("configs/ram_clutter.py:quicktest") == os.path.join(
      "runs", "ram_clutter_quicktest")
  assert parallel.DATA_AXIS == "data" and jax.device_count() == 8
