"""The loop through the RAM quicktest: config checks, bad input, the CLI and the visualize tool
(every config's quicktest end to end: tests/contract_test.py; faults: tests/faults_test.py)."""

import os

import jax
import pytest

from attn_rl.core import checkpointing, loop, parallel
from attn_rl.data import pipeline
from tests.helpers import RAM_CONFIG, ROOT, load_config


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
    ("mesh.data", 16, "mesh.data=16 x mesh.seeds=1 but 8 devices exist"),
    ("mesh.seeds", 3, "mesh.seeds=3 must be a positive divisor of the 8 devices"),
    ("train.num_seeds", 0, "train.num_seeds=0 must be a positive integer"),
    ("train.seeds_mode", "pmap", "train.seeds_mode='pmap' is not one of 'vmap', 'loop'"),
    ("optim.learning_rate", 0.0, "optim.learning_rate=0.0 must be a positive"),
    ("optim.learning_rate", -1e-3, "optim.learning_rate=-0.001 must be a positive"),
    ("optim.learning_rate", float("nan"), "optim.learning_rate=nan must be a positive"),
    ("optim.name", "adamw", "optim.name='adamw' is not one of 'adam', 'amsgrad', 'sgd'"),
    ("optim.schedule", "linear", "optim.schedule='linear' is not one of"),
    ("optim.grad_clip_norm", -1.0, "optim.grad_clip_norm=-1.0 must be >= 0"),
    ("ckpt.max_to_keep", 0, "ckpt.max_to_keep=0 must be a positive"),
])
def test_bad_config_values_give_clear_errors(tmp_path, key, value, message, monkeypatch):
  config = load_config(RAM_CONFIG, **{key: value})

  def no_data(*args, **kwargs):
    raise AssertionError("data loaded before the config was checked")

  # Every check comes before the data (and the seconds it takes to load).
  monkeypatch.setattr(pipeline, "make_batches", no_data)
  with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def test_max_steps_this_run_must_be_positive(tmp_path):
  with pytest.raises(ValueError, match="--max_steps_this_run=-1 must be at least 1"):
    loop.train_and_evaluate(load_config(RAM_CONFIG), str(tmp_path / "w"), max_steps_this_run=-1)


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


def test_default_workdir():
  from attn_rl import main
  assert main.default_workdir("configs/ram_clutter.py:quicktest") == os.path.join(
      "runs", "ram_clutter_quicktest")
  assert parallel.DATA_AXIS == "data" and jax.device_count() == 8
