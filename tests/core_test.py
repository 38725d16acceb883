"""One code path on 1 and 8 devices: equal steps, portable checkpoints, divisibility errors."""

import jax
import ml_collections
import numpy as np
import pytest

from attn_rl import checkpointing, methods, parallel
from tests.ram_step_test import make


def mesh_of(n):
  return parallel.make_mesh(ml_collections.ConfigDict({"data": n}))


def run_steps(mesh, num_steps=3):
  config, model, state, batch = make(batch=16)
  method = methods.get(config.method)
  repl = parallel.replicated(mesh)
  state_sharding = jax.tree.map(lambda _: repl, state)
  step = jax.jit(method.make_train_step(config, model),
                 in_shardings=(state_sharding, parallel.batch_sharded(mesh), repl),
                 out_shardings=(state_sharding, repl))
  state = jax.device_put(state, repl)
  batch = parallel.global_batch(jax.device_get(batch), mesh)
  assert len(batch["image"].sharding.device_set) == mesh.size
  for _ in range(num_steps):
    state, metrics = step(state, batch, jax.random.key(1))
  return jax.device_get(state), jax.device_get(metrics)


def test_one_and_eight_devices_give_the_same_step():
  assert jax.device_count() == 8
  s1, m1 = run_steps(mesh_of(1))
  s8, m8 = run_steps(mesh_of(8))
  for k in m1:
    np.testing.assert_allclose(m1[k], m8[k], rtol=2e-4, atol=1e-5, err_msg=k)
  # Leaves, not tree.map: the two states hold distinct (equal) optimizer closures. Adam
  # divides by sqrt(v), which magnifies all-reduce rounding on near-zero gradients; 1e-4 is a
  # tenth of one step of the 1e-3 learning rate.
  for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s8), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


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
  from attn_rl import checkpointing

  saved = {"model": {"widths": [16, 32], "core": "rnn"}}
  same = {"model": {"widths": (16, 32), "core": "rnn"}}
  assert checkpointing.config_differences(saved, same) == []
  diffs = checkpointing.config_differences(saved, {"model": {"widths": (16, 64), "core": "rnn"}})
  assert diffs == ["model.widths: checkpoint [16, 32], now [16, 64]"]


def test_config_check_accepts_a_key_added_later_at_its_old_behaviour():
  from attn_rl import checkpointing

  saved = {"optim": {"learning_rate": 1e-3}}
  assert checkpointing.config_differences(
      saved, {"optim": {"learning_rate": 1e-3, "location_lr_scale": 1.0}}) == []
  assert checkpointing.config_differences(
      saved, {"optim": {"learning_rate": 1e-3, "location_lr_scale": 0.3}}) == [
          "optim.location_lr_scale: checkpoint '<absent>', now 0.3"]


def test_unroll_may_change_on_resume_and_old_configs_get_the_added_keys():
  from attn_rl import checkpointing, config_lib

  # The rolled and unrolled loops compute the same episode: resuming may switch.
  saved = {"model": {"core": "rnn"}}
  assert checkpointing.config_differences(saved, {"model": {"core": "rnn", "unroll": True}}) == []
  # A config.json written before the keys existed builds the model that wrote it.
  old = config_lib.ram_defaults()
  with old.unlocked():
    del old.model["unroll"]
    del old.optim["location_lr_scale"]
  checkpointing.fill_added_keys(old, config_lib.defaults("ram"))
  assert old.model.unroll is False and old.optim.location_lr_scale == 1.0
  # Keys a method does not have are not added to its configs.
  dreal = config_lib.dreal_defaults()
  checkpointing.fill_added_keys(dreal, config_lib.defaults("dreal"))
  assert "unroll" not in dreal.model and "location_lr_scale" not in dreal.optim
