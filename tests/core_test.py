"""The core: portable checkpoints (devices, layouts), the config check, the State, the
registry, and the rule that the core imports no method."""

import ast
import glob
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax.training import train_state

from attn_rl.core import checkpointing, loop, parallel
from attn_rl.core import method as method_lib
from attn_rl.core import state as state_lib
from attn_rl.data import pipeline
from attn_rl.methods.ram import config as ram_config
from tests.contract_test import STEP_CONFIGS
from tests.helpers import RAM_CONFIG, load_config, read_metrics
from tests.ram_test import make

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mesh_of(n):
  return parallel.make_mesh(ml_collections.ConfigDict({"data": n}))


@pytest.mark.parametrize("save_on,restore_on", [(8, 1), (1, 8)])
def test_checkpoint_restores_across_device_counts(tmp_path, save_on, restore_on):
  _, _, state, _ = make()
  saved = jax.device_put(state, parallel.replicated(mesh_of(save_on)))
  ckpt = checkpointing.Checkpointer(str(tmp_path), max_to_keep=1, async_save=False)
  ckpt.save(5, saved, {"step": 5})
  target = checkpointing.abstract_like(state, parallel.replicated(mesh_of(restore_on)))
  restored, meta = ckpt.restore(target)
  assert meta["step"] == 5
  leaf = jax.tree.leaves(restored)[0]
  assert len(leaf.sharding.device_set) == restore_on
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
    np.testing.assert_array_equal(a, b)


def test_batch_that_does_not_divide_names_the_fix():
  with pytest.raises(ValueError, match=r"use a multiple of 8 \(e.g. 96 or 104\)"):
    parallel.check_divisible(100, mesh_of(8), "train.batch_size")
  parallel.check_divisible(96, mesh_of(8), "train.batch_size")


def test_config_check_treats_tuples_and_json_lists_alike():
  saved = {"model": {"widths": [16, 32], "core": "rnn"}}
  same = {"model": {"widths": (16, 32), "core": "rnn"}}
  assert checkpointing.config_differences(saved, same) == []
  diffs = checkpointing.config_differences(saved, {"model": {"widths": (16, 64), "core": "rnn"}})
  assert diffs == ["model.widths: checkpoint [16, 32], now [16, 64]"]


def test_config_check_accepts_a_key_added_later_at_its_old_behaviour():
  saved = {"optim": {"learning_rate": 1e-3}}
  assert checkpointing.config_differences(
      saved, {"optim": {"learning_rate": 1e-3, "location_lr_scale": 1.0}}) == []
  assert checkpointing.config_differences(
      saved, {"optim": {"learning_rate": 1e-3, "location_lr_scale": 0.3}}) == [
          "optim.location_lr_scale: checkpoint '<absent>', now 0.3"]


def test_unroll_may_change_on_resume_and_old_configs_get_the_added_keys():
  # The rolled and unrolled loops compute the same episode: resuming may switch.
  saved = {"model": {"core": "rnn"}}
  assert checkpointing.config_differences(saved, {"model": {"core": "rnn", "unroll": True}}) == []
  # A config.json written before the keys existed builds the model that wrote it.
  old = ram_config.defaults()
  with old.unlocked():
    del old.model["unroll"]
    del old.optim["location_lr_scale"]
  checkpointing.fill_added_keys(old, method_lib.get("ram").defaults())
  assert old.model.unroll is False and old.optim.location_lr_scale == 1.0
  # Keys a method does not have are not added to its configs.
  dreal = method_lib.get("dreal").defaults()
  checkpointing.fill_added_keys(dreal, method_lib.get("dreal").defaults())
  assert "unroll" not in dreal.model and "location_lr_scale" not in dreal.optim
  # A top-down workdir from before the glimpse LayerNorm's epsilon was a key gets flax's default.
  topdown = method_lib.get("topdown").defaults()
  with topdown.unlocked():
    del topdown.model["glimpse_norm_epsilon"]
  checkpointing.fill_added_keys(topdown, method_lib.get("topdown").defaults())
  assert topdown.model.glimpse_norm_epsilon == 1e-6
  assert "glimpse_norm_epsilon" not in ram_config.defaults().model
  # A DRAM workdir from before `model.init_from` resumes (and its config builds its model).
  dram = method_lib.get("dram").defaults()
  before = dram.to_dict()
  del before["model"]["init_from"]
  assert checkpointing.config_differences(before, dram.to_dict()) == []
  with dram.unlocked():
    del dram.model["init_from"]
  checkpointing.fill_added_keys(dram, method_lib.get("dram").defaults())
  assert dram.model.init_from == ""


def test_retired_keys_of_an_old_checkpoint_are_no_difference():
  saved = {"rl": {"num_rollouts": 1}, "eval": {"num_rollouts": 1, "batch_size": 8}}
  now = {"eval": {"batch_size": 8}}
  retired = method_lib.get("dreal").retired_keys
  assert checkpointing.config_differences(saved, now, retired) == []
  # Only listed keys: another key gone is still a difference, and so is a retired key that
  # a config sets again (present in both, different values).
  assert checkpointing.config_differences(saved, now) != []
  assert checkpointing.config_differences(saved, {**now, "rl": {"num_rollouts": 2}}, retired)


def _tiny_state():
  params = {"w": jnp.arange(3.0)}
  return state_lib.create({"net": (params, optax.sgd(0.5)), "other": (params, optax.sgd(0.5))},
                          clock="net", frozen={"stats": {"mean": jnp.ones(2)}})


def test_state_updates_only_the_named_groups_and_replaces_collections():
  state = _tiny_state()
  grads = {"w": jnp.ones(3)}
  new = state.apply_gradients({"net": grads})
  np.testing.assert_allclose(new.trainable["net"].params["w"], [-0.5, 0.5, 1.5])
  np.testing.assert_array_equal(new.trainable["other"].params["w"], [0.0, 1.0, 2.0])
  assert int(new.step) == 1 and int(new.trainable["other"].step) == 0
  assert set(new.params()) == {"w"} and set(new.items()) == {"net", "other", "stats"}
  moved = new.replace_frozen(stats={"mean": jnp.zeros(2)})
  np.testing.assert_array_equal(moved.frozen["stats"]["mean"], [0.0, 0.0])
  with pytest.raises(KeyError, match="No frozen collection"):
    new.replace_frozen(batch_stats={})
  with pytest.raises(ValueError, match="clock='nope'"):
    state_lib.create({"net": ({}, optax.sgd(0.1))}, clock="nope")


def test_checkpoints_of_the_old_layout_restore(tmp_path):
  """Before state_layout 2 a frozen collection was saved as a TrainState with an identity
  optimizer; such checkpoints still resume, into the plain collection."""
  state = _tiny_state().apply_gradients({"net": {"w": jnp.ones(3)}})
  mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}))
  ckpt = checkpointing.Checkpointer(str(tmp_path), max_to_keep=1, async_save=False)
  old_items = {**state.trainable, "stats": train_state.TrainState.create(
      apply_fn=None, params=state.frozen["stats"], tx=optax.identity())}
  args = {k: checkpointing.ocp.args.StandardSave(v) for k, v in old_items.items()}
  ckpt.manager.save(3, args=checkpointing.ocp.args.Composite(
      meta=checkpointing.ocp.args.JsonSave({"step": 3}), **args))
  ckpt.wait()
  target = checkpointing.abstract_like(state, parallel.replicated(mesh))
  restored, meta = ckpt.restore(target)
  assert meta["step"] == 3
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state), strict=True):
    np.testing.assert_array_equal(a, b)
  # And the new layout round-trips.
  ckpt.save(4, state, {"step": 4})
  ckpt.wait()
  assert ckpt.read_meta(4)["state_layout"] == checkpointing.STATE_LAYOUT
  again, _ = ckpt.restore(target, 4)
  np.testing.assert_array_equal(again.frozen["stats"]["mean"], state.frozen["stats"]["mean"])


def _imports(path: str) -> set[str]:
  tree = ast.parse(open(path).read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      out.add(node.module)
      out.update(f"{node.module}.{a.name}" for a in node.names)
  return out


def test_core_imports_nothing_from_methods_or_tools():
  files = glob.glob(os.path.join(ROOT, "attn_rl", "core", "**", "*.py"), recursive=True)
  assert len(files) > 10
  for path in files:
    bad = sorted(m for m in _imports(path)
                 if m.startswith(("attn_rl.methods", "attn_rl.tools")))
    assert not bad, f"{os.path.relpath(path, ROOT)} imports {bad}"
  # The check itself sees imports: a method module does import the core.
  assert "attn_rl.core.method" in _imports(
      os.path.join(ROOT, "attn_rl", "methods", "ram", "method.py"))


def test_registry_loads_every_method_under_its_name():
  for name in method_lib.names():
    method = method_lib.get(name)
    assert method.name == name and method.defaults().method == name
    assert method.selection_mode in ("min", "max")
  with pytest.raises(ValueError,
                     match="config.method='nope' is not one of dram, dreal, ram, reid, seq_cnn, "
                           "topdown, video"):
    method_lib.get("nope")


@pytest.mark.parametrize("name", ["ram", "seq_cnn"])
def test_the_cheaply_compiled_initial_state_is_the_default_compile_s_bit_for_bit(name):
  path, arg = STEP_CONFIGS[name]
  config = load_config(os.path.join(ROOT, "configs", path), arg)
  method = method_lib.get(config.method).for_config(config)
  model = method.make_model(config, pipeline.num_classes(config.data))
  init_fn = lambda key: method.init_state(config, model, key, pipeline.image_shape(config.data))
  key = jax.random.key(5)
  repl = parallel.replicated(mesh_of(1))
  assert jax.default_backend() == "cpu" and loop.INIT_CPU_COMPILER_OPTIONS
  got = loop.initial_state(init_fn, key, repl)
  want = jax.jit(init_fn, out_shardings=repl)(key)
  leaves = jax.tree.leaves(want)
  assert len(leaves) > 10 and any(float(jnp.abs(x).sum()) > 0 for x in leaves)
  jax.tree.map(np.testing.assert_array_equal, got, want)


def test_logged_images_per_sec_counts_the_wait_for_the_device(tmp_path, monkeypatch):
  """Steps run asynchronously: their time ends when their metrics reach the host. A device
  that takes WAIT seconds to hand them over caps images/s at the window's images / WAIT."""
  wait = 0.25
  real_get = jax.device_get

  def slow_get(tree):
    time.sleep(wait)
    return real_get(tree)

  monkeypatch.setattr(jax, "device_get", slow_get)
  config = load_config(RAM_CONFIG)
  loop.train_and_evaluate(config, str(tmp_path / "w"))
  rates = [m["train/images_per_sec"] for m in read_metrics(str(tmp_path / "w"))
           if "train/images_per_sec" in m]
  assert len(rates) >= 3
  cap = config.log.every_steps * config.train.batch_size / wait
  assert max(rates) <= cap, (rates, cap)
