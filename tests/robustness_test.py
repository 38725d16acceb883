"""The robustness evaluator (core/evaluators/robustness.py), the methods' attackable logits and
the robustness CLI."""

import importlib.util
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_rl.core import loop
from attn_rl.core import method as method_lib
from attn_rl.core.evaluators import robustness
from attn_rl.data import pipeline, sequences
from tests.helpers import ROOT, load_config


def test_project_linf_is_the_clipped_ball_by_hand():
  x = jnp.array([[0.0, 0.5, 1.0, 0.9]])
  x_adv = jnp.array([[0.5, 0.55, 0.2, 1.3]])
  out = robustness.project(x_adv, x, 0.1)
  # Into [x - 0.1, x + 0.1], then into [0, 1].
  np.testing.assert_allclose(out, [[0.1, 0.55, 0.9, 1.0]], atol=1e-7)


def test_project_l2_scales_onto_the_sphere_and_keeps_inner_points():
  x = jnp.full((2, 3, 3), 0.5)
  delta = jnp.zeros((2, 3, 3)).at[0, 0, 0].set(0.3).at[0, 1, 1].set(0.4).at[1, 2, 2].set(0.05)
  out = robustness.project(x + delta, x, 0.1, "l2")
  # Example 0 has norm 0.5: scaled by 0.2 onto the sphere; example 1 lies inside, unchanged.
  np.testing.assert_allclose(out[0] - x[0], delta[0] * 0.2, atol=1e-7)
  np.testing.assert_allclose(out[1], x[1] + delta[1], atol=1e-7)
  # Clipping to the range keeps a point in the ball.
  clipped = robustness.project(jnp.full((1, 4), 2.0), jnp.full((1, 4), 0.95), 0.5, "l2")
  assert float(jnp.linalg.norm(clipped - 0.95)) <= 0.5 + 1e-6
  assert float(clipped.max()) <= 1.0
  with pytest.raises(ValueError, match="norm must be one of"):
    robustness.project(x, x, 0.1, "l1")


@pytest.mark.parametrize("norm", robustness.NORMS)
def test_random_start_lies_in_the_ball_and_the_range(norm):
  x = jax.random.uniform(jax.random.key(0), (16, 5, 5))
  start = robustness.random_point(jax.random.key(1), x, 0.2, norm)
  assert float(start.min()) >= 0 and float(start.max()) <= 1
  size = (jnp.abs(start - x).max(axis=(1, 2)) if norm == "linf"
          else jnp.sqrt(((start - x) ** 2).sum(axis=(1, 2))))
  assert float(size.max()) <= 0.2 + 1e-6 and float(size.min()) > 0


def test_margin_loss_by_hand():
  logits = jnp.array([[2.0, 1.0, 0.5], [0.0, 3.0, 1.0]])
  np.testing.assert_allclose(
      robustness.per_example_loss(logits, jnp.array([0, 0]), "margin"), [-1.0, 3.0])
  with pytest.raises(ValueError, match="loss must be one of"):
    robustness.per_example_loss(logits, jnp.array([0, 0]), "hinge")


def _noisy_logits(x, key):
  """A stochastic classifier: class 1's logit is x . w, w ~ N(1, 1) per pixel from the key."""
  x = x.reshape(x.shape[0], -1)
  z = jnp.sum(x * (1.0 + jax.random.normal(key, x.shape)), axis=1)
  return jnp.stack([jnp.zeros_like(z), z], axis=1)


def test_expected_loss_is_the_mean_over_its_own_keys():
  x, labels, key = jnp.full((3, 2), 0.1), jnp.array([0, 1, 0]), jax.random.key(4)
  by_hand = np.mean([robustness.per_example_loss(_noisy_logits(x, k), labels)
                     for k in jax.random.split(key, 5)], axis=0)
  np.testing.assert_allclose(robustness.expected_loss(_noisy_logits, x, labels, key, 5), by_hand,
                             rtol=1e-6)
  # Different draws give different losses: the average is over distinct keys.
  assert float(jnp.std(jnp.stack([robustness.per_example_loss(_noisy_logits(x, k), labels)
                                  for k in jax.random.split(key, 5)]))) > 0.1


def test_eot_changes_nothing_for_a_deterministic_model_and_something_for_a_stochastic_one():
  x = jax.random.uniform(jax.random.key(0), (4, 6))
  labels, key = jnp.array([0, 1, 0, 1]), jax.random.key(1)
  deterministic = lambda x, key: _noisy_logits(x, jax.random.key(0))
  kw = dict(eps=0.1, step_size=0.02, num_steps=3, norm="l2")
  one = robustness.pgd(deterministic, x, labels, key, eot_samples=1, **kw)
  many = robustness.pgd(deterministic, x, labels, key, eot_samples=4, **kw)
  np.testing.assert_allclose(one, many, atol=1e-6)
  # Each draw's gradient points elsewhere; their average points elsewhere again.
  noisy_one = robustness.pgd(_noisy_logits, x, labels, key, eot_samples=1, **kw)
  noisy_many = robustness.pgd(_noisy_logits, x, labels, key, eot_samples=4, **kw)
  assert float(jnp.abs(noisy_one - noisy_many).max()) > 1e-4


@pytest.fixture(scope="module")
def trained_linear():
  """A logistic regression trained on two blobs of 16-pixel images (0.3 and 0.7 grey)."""
  key_x, key_y = jax.random.split(jax.random.key(0))
  y = jax.random.bernoulli(key_y, 0.5, (256,)).astype(jnp.int32)
  x = jnp.clip(0.3 + 0.4 * y[:, None] + 0.05 * jax.random.normal(key_x, (256, 16)), 0, 1)
  logits_fn = lambda params, x: x.reshape(x.shape[0], -1) @ params["w"] + params["b"]
  params = {"w": jnp.zeros((16, 2)), "b": jnp.zeros(2)}
  tx = optax.adam(0.1)
  opt_state = tx.init(params)
  loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(logits_fn(p, x), y).mean()
  for _ in range(200):
    grads = jax.grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state)
    params = optax.apply_updates(params, updates)
  return (lambda x, key: logits_fn(params, x)), x, y


def test_pgd_breaks_a_trained_model_where_noise_of_the_same_size_does_not(trained_linear):
  fn, x, y = trained_linear
  key = jax.random.key(2)
  assert float(robustness.correct(fn, x, y, key).mean()) == 1.0
  accs, noise_accs = [], []
  for eps in (0.05, 0.1, 0.25, 0.3):
    adv = robustness.pgd(fn, x, y, key, eps=eps, step_size=0.01, num_steps=40)
    assert float(jnp.abs(adv - x).max()) <= eps + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    accs.append(float(robustness.correct(fn, adv, y, key).mean()))
    noise_accs.append(float(robustness.correct(
        fn, robustness.uniform_noise(key, x, eps), y, key).mean()))
  # The blobs sit 0.2 per pixel from the boundary: small balls do not reach it, 0.25 does.
  assert accs[0] > 0.95 and accs[-1] == 0.0
  assert robustness.non_increasing(accs)
  assert min(noise_accs) > 0.95


def test_spsa_breaks_the_trained_model_without_gradients(trained_linear):
  fn, x, y = trained_linear
  x, y = x[:16], y[:16]
  # A function with no usable gradient: SPSA only evaluates it.
  masked = lambda x, key: jax.lax.stop_gradient(fn(x, key))
  key = jax.random.key(3)
  pgd_adv = robustness.pgd(masked, x, y, key, eps=0.3, step_size=0.01, num_steps=40)
  spsa_adv = robustness.spsa(masked, x, y, key, eps=0.3, num_steps=40, num_samples=32,
                             learning_rate=0.02)
  assert float(jnp.abs(spsa_adv - x).max()) <= 0.3 + 1e-6
  # PGD on a zero gradient stays at its random start; SPSA still finds the boundary.
  assert float(robustness.correct(masked, pgd_adv, y, key).mean()) > 0.9
  assert float(robustness.correct(masked, spsa_adv, y, key).mean()) == 0.0


def test_non_increasing_with_tolerance():
  assert robustness.non_increasing([0.9, 0.5, 0.5, 0.1])
  assert not robustness.non_increasing([0.9, 0.5, 0.52])
  assert robustness.non_increasing([0.9, 0.5, 0.52], tolerance=0.03)


def _trained(tmp_path, config_file, arg):
  config = load_config(os.path.join(ROOT, "configs", config_file), arg)
  workdir = str(tmp_path / config_file.replace(".py", ""))
  loop.train_and_evaluate(config, workdir)
  return workdir


@pytest.mark.parametrize("config_file,arg", [
    ("ram_mnist.py", "quicktest"), ("topdown_clutter100.py", "full,quicktest"),
    ("dreal_mnist.py", "none,vanilla,quicktest")])
def test_method_logits_take_float_images_and_keys(tmp_path, config_file, arg):
  workdir = _trained(tmp_path, config_file, arg)
  config, method, model, state, _ = loop.load_trained(workdir)
  images, _ = pipeline.eval_images(config.data, "test", 6)
  x = jnp.asarray(images, jnp.float32) / 255.0
  logits = jax.jit(method.make_logits(config, model), static_argnums=3)
  params = method.inference_params(state)
  keys = lambda seed: jax.random.split(jax.random.key(seed), 6)
  a, b = logits(params, x, keys(0), False), logits(params, x, keys(1), False)
  assert a.shape == (6, pipeline.num_classes(config.data))
  # The policy's draws change the logits of a stochastic method, never the deterministic policy's.
  assert method.stochastic == bool(float(jnp.abs(a - b).max()) > 1e-6)
  np.testing.assert_allclose(logits(params, x, keys(0), True), logits(params, x, keys(1), True),
                             atol=1e-6)
  # Float images in [0, 1] give what the uint8 images give.
  np.testing.assert_allclose(logits(params, jnp.asarray(images), keys(0), False), a, atol=1e-4)
  # The attack has a gradient through the pixels.
  grad = jax.grad(lambda x: logits(params, x, keys(0), True)[:, 0].sum())(x)
  assert float(jnp.abs(grad).max()) > 0


def test_every_classifier_can_be_attacked():
  # Retrieval methods rank embeddings: their classifier over training identities is no target;
  # sequence methods (DRAM, its CNN) name several labels per image, not one class.
  classifiers = [n for n in method_lib.names()
                 if method_lib.get(n).evaluator == "classification"
                 and method_lib.get(n).defaults().data.dataset not in sequences.DATASETS]
  assert len(classifiers) >= 3
  assert all(method_lib.get(n).make_logits is not None for n in classifiers)


def _run_cli(*args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.run([sys.executable, "-m", "attn_rl.tools.robustness", *args], env=env,
                        cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_robustness_cli_refuses_bad_flags_before_loading(tmp_path):
  result = _run_cli(f"--workdir={tmp_path}/missing", "--eps=0.3,0.1", "--plot=false")
  assert result.returncode != 0 and "must be positive and increasing" in result.stderr
  result = _run_cli(f"--workdir={tmp_path}/missing", "--eps=0.1,0.3", "--spsa_eps=0.2",
                    "--plot=false")
  assert result.returncode != 0 and "must be one of --eps" in result.stderr


def test_robustness_cli_writes_the_report_and_its_table(tmp_path):
  plot = importlib.util.find_spec("matplotlib") is not None
  workdir = _trained(tmp_path, "ram_mnist.py", "quicktest")
  out = tmp_path / "rob"
  result = _run_cli(f"--workdir={workdir}", "--eps=0.1,0.3", "--num=20", "--batch=10",
                    "--steps=4", "--eot=2", "--spsa_num=4", "--spsa_batch=4", "--spsa_steps=2",
                    "--spsa_samples=4", f"--out={out}", f"--plot={plot}")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads((out / "robustness.json").read_text())
  assert report["method"] == "ram" and report["stochastic"] and report["num"] == 20
  assert set(report["series"]) == {"noise", "pgd", "pgd_eot", "noise_det", "pgd_det", "worst"}
  assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in report["series"].values())
  assert report["steps_check"]["steps"] == [1, 2, 4]
  assert set(report["spsa"]["scores"]) == {"sampled", "deterministic"}
  assert {"pgd_eot_non_increasing_in_eps", "non_increasing_in_steps",
          "no_gradient_masking_sampled"} <= set(report["checks"])
  assert all(isinstance(c["passed"], bool) for c in report["checks"].values())
  # "worst" survives both attacks: never above either.
  for w, a, b in zip(report["series"]["worst"], report["series"]["pgd"],
                     report["series"]["pgd_eot"], strict=True):
    assert w <= min(a, b)
  assert (out / "robustness.png").exists() == plot
  table = _run_cli(f"--table={out / 'robustness.json'}")
  assert table.returncode == 0, table.stderr[-2000:]
  assert "| pgd_eot |" in table.stdout and "eps 0.3" in table.stdout
