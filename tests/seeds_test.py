"""Several seeds in one process (`train.num_seeds`): one vmapped step over stacked states.

A seed trained among others matches the same seed trained alone (metrics to float tolerance:
vmap batches the matmuls, which changes their rounding; the same checkpoint selected); each
seed's folder is a single-seed workdir; stop, resume, a kill between the seeds' saves and a
changed number of seeds behave as for one seed; seeds laid on a mesh axis of their own
compute what they compute on a shared one.
"""

import json
import os

import jax
import numpy as np
import pytest

from attn_rl.core import checkpointing, loop
from tests.contract_test import STEP_CONFIGS
from tests.helpers import RAM_CONFIG, ROOT, interrupt_training_at, load_config, read_metrics

# vmap over seeds batches each matmul and convolution of the step: float32 rounding differs
# from the unbatched program. Measured on one device, worst relative difference of any metric
# over 20 steps: RAM 1.4e-6, top-down 2.9e-4, DREAL-SE 1.5e-7; DREAL-CBAM 3e-3 over 10 steps
# (its critics' Q values near zero), then an accuracy flip at step 18 moves its critic loss by
# 3%: CBAM is compared over its first 10 steps. Gradient norms are compared at step 1 only:
# Adam divides by sqrt(v), so from the first update on, rounding in near-zero gradient
# components becomes parameter differences of the learning rate's size, and the norms of
# CBAM's attention gradients (sums that cancel) then differ by up to 5% while every loss
# stays within 3e-3.
RTOL, ATOL = 1e-2, 1e-4
# The critics' methods (DREAL, re-ID) with CBAM: the actor's gradient is such a cancelling sum
# from step 1 (re-ID's norm: 0.65% and 1.3% apart at step 1 in two runs, AMD EPYC,
# 2026-12-06), and the actor loss is -Q of critics whose outputs sit near zero (|Q| about
# 6e-3 in re-ID's first steps), so the Adam-amplified rounding above moves Q by a large
# fraction of itself (re-ID: 3e-4 to 5.5e-4, 5% to 9%, at step 4; its critics' Q of the
# substituted runs, `train/q/substituted`, 7.2e-4 or 1.8% at step 4 in a run with LLVM
# at -O1): compared with these (rtol, atol).
KEY_TOL = {"train/grad_norm/actor": (5e-2, ATOL), "train/loss/actor": (RTOL, 2e-3),
           "train/q/mean": (RTOL, 2e-3), "train/q/substituted": (RTOL, 2e-3)}
# Accuracies and errors count images: a near-tie may flip, one image of a batch of 16 in
# training (RAM's 0/1 reward likewise), two of the 64 validation and test images.
ERROR_ATOL = 2 / 64
COUNT_ATOL = {"train/acc": 1 / 16 + 1e-6, "train/reward/mean": 1 / 16 + 1e-6}
WALL_CLOCK = ("time", "train/images_per_sec")
# Evaluation metrics that count images (errors) or rank them (re-ID's CMC and mAP).
RANKED = ("val/error", "test/error", "val/rank", "test/rank", "val/map", "test/map")


def config_of(name, **overrides):
  path, variant = EQUALITY_CONFIGS.get(name, STEP_CONFIGS.get(name))
  return load_config(os.path.join(ROOT, "configs", path), variant, **overrides)


# Every method's contract config, and DREAL with SE besides CBAM; steps compared (above).
EQUALITY_CONFIGS = {**STEP_CONFIGS, "dreal-se": ("dreal_clutter.py", "se,quicktest")}
EQUALITY_STEPS = {"dreal": 10, "reid": 10}


def strip(records):
  return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in records]


def assert_close_records(got, want):
  assert [r["step"] for r in got] == [r["step"] for r in want]
  for a, b in zip(got, want, strict=True):
    assert set(a) == set(b), a["step"]
    for k in a:
      if k in WALL_CLOCK or k.startswith("train/grad_norm/") and a["step"] > 1:
        continue
      atol = (ERROR_ATOL if k.startswith(RANKED) else COUNT_ATOL.get(k, ATOL))
      rtol, atol = KEY_TOL.get(k, (RTOL, atol))
      np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=atol, err_msg=f"{a['step']} {k}")


@pytest.mark.parametrize("name", sorted(EQUALITY_CONFIGS))
def test_a_seed_among_others_matches_it_alone(tmp_path, name):
  # One device: vmap is the only difference (several devices: the mesh test below, and the
  # contract test of 1 against 8 devices).
  steps = {"train.num_steps": EQUALITY_STEPS.get(name, 20), "log.every_steps": 1,
           "eval.every_steps": 5, "mesh.data": 1}
  # vmap for every method here (DREAL's default is 'loop': the next test).
  together = loop.train_and_evaluate(
      config_of(name, **steps, **{"train.num_seeds": 2, "train.seeds_mode": "vmap"}),
      str(tmp_path / "together"))
  alone = loop.train_and_evaluate(_with_seed(config_of(name, **steps), 1),
                                  str(tmp_path / "alone"))
  assert together["finished"] and [r["seed"] for r in together["seeds"]] == [0, 1]
  mine = together["seeds"][1]
  assert mine["selected_step"] == alone["selected_step"]
  assert mine["num_seeds"] == 2 and "num_seeds" not in alone
  for k, v in alone["test"].items():
    atol = ERROR_ATOL if k.startswith(("error", "rank", "map")) else ATOL
    np.testing.assert_allclose(mine["test"][k], v, rtol=RTOL, atol=atol, err_msg=k)
  seed_dir = tmp_path / "together" / "seed_1"
  assert_close_records(read_metrics(seed_dir), read_metrics(tmp_path / "alone"))
  # Seeds differ: their own initialisation, data order and draws.
  first = [r for r in read_metrics(tmp_path / "together" / "seed_0") if r["step"] == 1][0]
  assert first["train/loss/total"] != read_metrics(seed_dir)[0]["train/loss/total"]
  # The folder is a single-seed workdir: its config is seed 1's alone.
  saved = json.loads((seed_dir / "config.json").read_text())
  assert saved["seed"] == 1 and saved["train"]["num_seeds"] == 1
  top = json.loads((tmp_path / "together" / "config.json").read_text())
  assert top["train"]["num_seeds"] == 2
  assert sorted(os.listdir(seed_dir)) == sorted(os.listdir(tmp_path / "alone"))


def test_dreal_steps_its_seeds_as_a_loop_by_default_and_matches_a_seed_alone(tmp_path):
  """CBAM's rollouts pick the drawn block with lax.switch: one branch per seed in a loop."""
  steps = {"train.num_steps": 10, "log.every_steps": 1, "eval.every_steps": 5, "mesh.data": 1}
  config = config_of("dreal", **steps, **{"train.num_seeds": 2})
  assert config.train.seeds_mode == "loop"
  loop.train_and_evaluate(config, str(tmp_path / "together"))
  loop.train_and_evaluate(_with_seed(config_of("dreal", **steps), 1), str(tmp_path / "alone"))
  assert_close_records(read_metrics(tmp_path / "together" / "seed_1"),
                       read_metrics(tmp_path / "alone"))


def _with_seed(config, seed):
  with config.unlocked():
    config.seed = seed
  return config


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """Metrics of seeds 0 and 1 of a 2-seed RAM quicktest run straight through."""
  workdir = tmp_path_factory.mktemp("straight")
  results = loop.train_and_evaluate(load_config(RAM_CONFIG, **{"train.num_seeds": 2}),
                                    str(workdir))
  return results, [read_metrics(workdir / f"seed_{k}") for k in range(2)]


def test_sigterm_then_a_kill_between_the_seeds_saves_resume_to_the_same_run(
    tmp_path, monkeypatch, straight):
  config = load_config(RAM_CONFIG, **{"train.num_seeds": 2})
  interrupt_training_at(monkeypatch, {2})
  first = loop.train_and_evaluate(config, str(tmp_path))
  assert first["stopped"] and not first["finished"] and first["step"] == 3
  monkeypatch.undo()
  # As if killed after seed 0 saved step 3 and before seed 1 did.
  os.rename(tmp_path / "seed_1" / "checkpoints" / "3", tmp_path / "lost")
  again = loop.train_and_evaluate(config, str(tmp_path))
  assert again["finished"]
  assert os.path.isdir(tmp_path / "seed_0" / "checkpoints" / "3.ahead")
  for k in range(2):
    assert strip(read_metrics(tmp_path / f"seed_{k}")) == strip(straight[1][k])
    assert again["seeds"][k]["test"] == straight[0]["seeds"][k]["test"]
  # A finished run returns its stored results.
  assert loop.train_and_evaluate(config, str(tmp_path))["seeds"][1]["test"] == (
      straight[0]["seeds"][1]["test"])


def test_the_number_of_seeds_cannot_change_on_resume(tmp_path):
  loop.train_and_evaluate(load_config(RAM_CONFIG, **{"train.num_seeds": 2}), str(tmp_path),
                          max_steps_this_run=2)
  for n in (1, 3):
    with pytest.raises(checkpointing.ConfigMismatchError, match="train.num_seeds=2, now"):
      loop.train_and_evaluate(load_config(RAM_CONFIG, **{"train.num_seeds": n}), str(tmp_path))
  # One seed's folder resumes alone, as the single-seed run it is.
  alone = load_config(os.path.join(ROOT, "attn_rl", "core", "json_config.py"),
                      str(tmp_path / "seed_1" / "config.json"))
  assert loop.train_and_evaluate(alone, str(tmp_path / "seed_1"))["finished"]
  with pytest.raises(FileNotFoundError, match="seed_0"):
    loop.load_trained(str(tmp_path))


def test_seeds_on_a_mesh_axis_of_their_own_match_seeds_sharing_it(tmp_path, straight):
  assert jax.device_count() == 8
  # 2 seeds x 4 data devices: each seed's state on its half of the devices.
  results = loop.train_and_evaluate(
      load_config(RAM_CONFIG, **{"train.num_seeds": 2, "mesh.seeds": 2}), str(tmp_path))
  for k in range(2):
    assert_close_records(read_metrics(tmp_path / f"seed_{k}"), straight[1][k])
    assert results["seeds"][k]["selected_step"] == straight[0]["seeds"][k]["selected_step"]
  with pytest.raises(ValueError, match="num_seeds=3 does not divide over mesh.seeds=2"):
    loop.train_and_evaluate(load_config(RAM_CONFIG, **{"train.num_seeds": 3, "mesh.seeds": 2}),
                            str(tmp_path / "bad"))


def test_loop_mode_steps_each_seed_as_it_steps_alone(tmp_path, straight):
  """train.seeds_mode='loop': the one-seed program once per seed, in one jitted program."""
  loop.train_and_evaluate(
      load_config(RAM_CONFIG, **{"train.num_seeds": 2, "train.seeds_mode": "loop"}),
      str(tmp_path / "looped"))
  alone = loop.train_and_evaluate(_with_seed(load_config(RAM_CONFIG), 1), str(tmp_path / "one"))
  got = read_metrics(tmp_path / "looped" / "seed_1")
  assert_close_records(got, read_metrics(tmp_path / "one"))
  assert json.loads((tmp_path / "looped" / "seed_1" / "results.json").read_text())[
      "selected_step"] == alone["selected_step"]
  # And as the vmapped seeds step.
  assert_close_records(read_metrics(tmp_path / "looped" / "seed_0"), straight[1][0])
