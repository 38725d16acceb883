"""Top-down + bottom-up method: loss pieces by hand, pyramid geometry, routing, step, e2e."""

import functools
import os

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from attn_rl.core import method as method_lib
from attn_rl.glimpse import pictures
from attn_rl.glimpse import sensor as glimpse_lib
from attn_rl.methods.topdown import config as td_config
from attn_rl.methods.topdown import losses as tdl
from attn_rl.methods.topdown import model as model_lib
from attn_rl.methods.topdown import steps as td_steps
from attn_rl.methods.topdown.steps import update_target
from attn_rl.rl import policy_gradient, value_learning
from tests.helpers import ROOT, load_config


class PureLossesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_td_target_and_q_loss_by_hand(self):
    q_next = jnp.array([0.2, 0.7, 0.1])
    # Non-terminal: y = 0 + 0.9 * max(0.2, 0.7, 0.1) = 0.63.
    np.testing.assert_allclose(
        self.variant(value_learning.td_target)(jnp.array(0.0), jnp.array(0.9), q_next), 0.63,
        rtol=1e-6)
    # Terminal (discount 0): y = r whatever Q_target says.
    np.testing.assert_allclose(
        self.variant(value_learning.td_target)(jnp.array(1.0), jnp.array(0.0), q_next), 1.0)
    loss = self.variant(value_learning.q_learning_loss)
    q_tm1 = jnp.array([0.5, 0.1])
    # (Q(s, 0) - 0.63)^2 = 0.13^2; terminal a=1: (0.1 - 1)^2 = 0.81.
    np.testing.assert_allclose(
        loss(q_tm1, jnp.array(0), jnp.array(0.0), jnp.array(0.9), q_next), 0.0169, rtol=1e-5)
    np.testing.assert_allclose(
        loss(q_tm1, jnp.array(1), jnp.array(1.0), jnp.array(0.0), q_next), 0.81, rtol=1e-6)

  def test_q_loss_gradient_reaches_the_chosen_q_only(self):
    args = (jnp.array([0.5, 0.1]), jnp.array(0), jnp.array(0.0), jnp.array(0.9),
            jnp.array([0.2, 0.7, 0.1]))
    g_online, g_target = jax.grad(value_learning.q_learning_loss, argnums=(0, 4))(*args)
    # d/dQ (Q - y)^2 = 2 (0.5 - 0.63) on the chosen action; the target is a constant.
    np.testing.assert_allclose(g_online, [-0.26, 0.0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(g_target, 0.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_binary_patch_entropy_by_hand(self):
    entropy = self.variant(functools.partial(glimpse_lib.binary_patch_entropy, threshold=0.5))
    patch = np.zeros((4, 4), np.float32)
    patch[0, :] = [0.9, 0.6, 1.0, 0.51]  # 4 of 16 pixels above the threshold: p = 1/4.
    patch[1, 0] = 0.5  # On the threshold: off.
    # -(1/4 log2 1/4 + 3/4 log2 3/4) = 0.5 + 0.311278.
    np.testing.assert_allclose(entropy(jnp.asarray(patch)), 0.8112781, rtol=1e-6)
    np.testing.assert_allclose(entropy(jnp.zeros((2, 4, 4, 1))), 0.0)
    np.testing.assert_allclose(entropy(jnp.ones((3, 3))), 0.0)
    half = jnp.asarray(np.indices((4, 4)).sum(0) % 2, jnp.float32)  # A checkerboard.
    np.testing.assert_allclose(entropy(half), 1.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_entropy_weighted_reinforce_by_hand(self):
    log_prob = jnp.array([-1.0, -2.0])
    baseline = jnp.array([0.5, 0.25])
    entropy = jnp.array([0.8, 0.2])
    fn = self.variant(functools.partial(tdl.entropy_weighted_reinforce_loss, lam=0.5))
    # Weights (0.8 + 0.5, 0.2 + 0.5), advantages (0.5, 0.75):
    # -[1.3 * 0.5 * (-1) + 0.7 * 0.75 * (-2)] = 0.65 + 1.05 = 1.7.
    np.testing.assert_allclose(fn(log_prob, jnp.array(1.0), baseline, entropy), 1.7, rtol=1e-6)
    grads = jax.grad(tdl.entropy_weighted_reinforce_loss, argnums=(0, 2, 3))(
        log_prob, jnp.array(1.0), baseline, entropy, 0.5)
    np.testing.assert_allclose(grads[0], [-0.65, -0.525], rtol=1e-6)
    np.testing.assert_array_equal(grads[1], 0.0)  # The baseline has its own loss.
    np.testing.assert_array_equal(grads[2], 0.0)  # The entropy is a constant weight.

  def test_zero_entropy_and_unit_lambda_is_plain_reinforce(self):
    log_prob, baseline = jnp.array([-1.0, -2.0, -0.5]), jnp.array([0.25, 0.5, 1.0])
    np.testing.assert_allclose(
        tdl.entropy_weighted_reinforce_loss(log_prob, jnp.array(1.0), baseline, jnp.zeros(3),
                                            1.0),
        policy_gradient.reinforce_loss(log_prob, jnp.array(1.0), baseline))

  @chex.variants(with_jit=True, without_jit=True)
  def test_context_vector_and_loss_by_hand(self):
    alpha = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    h = jnp.array([[1.0, 2.0], [3.0, -1.0]])
    # Confidences 0.7 and 0.6: 0.7 * (1, 2) + 0.6 * (3, -1) = (2.5, 0.8).
    np.testing.assert_allclose(self.variant(tdl.context_vector)(alpha, h), [2.5, 0.8],
                               rtol=1e-6)
    # softmax(0, log 3) = (1/4, 3/4): -log Z_y = -log(3/4) for y = 1.
    logits = jnp.array([0.0, np.log(3.0)])
    np.testing.assert_allclose(self.variant(tdl.context_loss)(logits, jnp.array(1)),
                               -np.log(0.75), rtol=1e-6)


# Pyramid geometry and region choice.


def test_level_observation_box_downsamples_the_window():
  image = jnp.arange(64, dtype=jnp.float32).reshape(1, 8, 8, 1)
  whole = model_lib.level_observation(image, jnp.zeros((1, 2), jnp.int32), 8, 4)
  # Top-left 2x2 block (0, 1, 8, 9) averages to 4.5; the next one (2, 3, 10, 11) to 6.5.
  np.testing.assert_allclose(whole[0, 0, :2, 0], [4.5, 6.5])
  quarter = model_lib.level_observation(image, jnp.array([[4, 0]], jnp.int32), 4, 4)
  np.testing.assert_array_equal(quarter[0, ..., 0], np.arange(64).reshape(8, 8)[4:, :4])


def test_child_window_row_major():
  top_left = jnp.array([[0, 0], [0, 0], [0, 0], [0, 0], [50, 50]], jnp.int32)
  action = jnp.array([0, 1, 2, 3, 3])
  np.testing.assert_array_equal(model_lib.child_window(top_left, action, 100, 2),
                                [[0, 0], [0, 50], [50, 0], [50, 50], [100, 100]])


@pytest.mark.parametrize("top_left,window", [((0, 0), 50), ((50, 0), 50), ((25, 75), 25)])
def test_first_location_falls_inside_the_chosen_region(top_left, window):
  n = 4000
  tl = jnp.tile(jnp.array(top_left, jnp.int32), (n, 1))
  loc = model_lib.sample_in_window(jax.random.key(0), tl, window, (100, 100))
  centre = np.asarray(glimpse_lib.centre_pixels(loc, 100, 100))
  assert (centre >= np.array(top_left)).all() and (centre < np.array(top_left) + window).all()
  # Uniform over the window: both edges are reached.
  assert (centre.min(0) == np.array(top_left)).all()
  assert (centre.max(0) == np.array(top_left) + window - 1).all()


def test_choose_regions_greedy_epsilon_softmax():
  q = jnp.tile(jnp.array([[0.1, 0.9, 0.3, 0.2]]), (2000, 1))
  key = jax.random.key(0)
  choose = functools.partial(model_lib.choose_regions, key, q, temperature=1.0)
  assert (choose(exploration="epsilon", epsilon=1.0, greedy=True) == 1).all()
  assert (choose(exploration="epsilon", epsilon=0.0, greedy=False) == 1).all()
  uniform = np.bincount(choose(exploration="epsilon", epsilon=1.0, greedy=False), minlength=4)
  assert (np.abs(uniform / 2000 - 0.25) < 0.05).all()
  # epsilon 0.2: P(best) = 0.8 + 0.2 / 4 = 0.85.
  mixed = np.mean(choose(exploration="epsilon", epsilon=0.2, greedy=False) == 1)
  assert abs(mixed - 0.85) < 0.03
  soft = np.bincount(choose(exploration="softmax", epsilon=0.0, greedy=False), minlength=4)
  expected = np.exp([0.1, 0.9, 0.3, 0.2]) / np.exp([0.1, 0.9, 0.3, 0.2]).sum()
  np.testing.assert_allclose(soft / 2000, expected, atol=0.04)


@pytest.mark.parametrize("levels", [2, 3])
def test_descent_window_follows_the_actions(levels):
  config = small_config()
  config.data.canvas_size, config.topdown.levels = 32, levels
  model = model_lib.TopDownModel(config, 10)
  params = model.init(jax.random.key(0), (32, 32))
  images = jax.random.uniform(jax.random.key(1), (5, 32, 32, 1))
  d = model.descend(params["qnet"], images, jax.random.key(2), epsilon=1.0)
  assert d.observations.shape == (levels - 1, 5, model.obs_side, model.obs_side, 1)
  expected = np.zeros((5, 2), int)
  side = 32
  for a in np.asarray(d.actions):
    side //= 2
    expected += np.stack([a // 2, a % 2], -1) * side
  np.testing.assert_array_equal(d.top_left, expected)
  assert model.final_window() == side
  # Greedy choices are the argmax of the recorded Q-values.
  g = model.descend(params["qnet"], images, jax.random.key(2), greedy=True)
  np.testing.assert_array_equal(g.actions, np.argmax(g.q_values, -1))


def test_polyak_and_periodic_target_updates():
  online, target = {"w": jnp.ones(3)}, {"w": jnp.zeros(3)}
  c = ml_collections.ConfigDict({"target_update": "polyak", "target_tau": 0.01,
                                 "target_period": 3})
  np.testing.assert_allclose(update_target(online, target, jnp.array(1), c)["w"], 0.01)
  c.target_update = "periodic"
  np.testing.assert_array_equal(update_target(online, target, jnp.array(3), c)["w"], 1.0)
  np.testing.assert_array_equal(update_target(online, target, jnp.array(4), c)["w"], 0.0)


# Model and step.


def small_config():
  c = td_config.defaults()
  c.data.task, c.data.canvas_size = "translated", 32
  c.model.num_glimpses, c.model.glimpse_size, c.model.num_scales = 3, 4, 2
  c.model.conv_channels = [4, 8, 8]
  c.model.glimpse_hidden = c.model.location_hidden = 16
  c.model.glimpse_features = c.model.core_hidden = 32
  c.bottomup.context_hidden = 16
  c.topdown.conv_features, c.topdown.region_features = 4, 8
  c.rl.num_rollouts = 2
  c.train.num_steps = 10
  # A constant rate, so that the first update moves every parameter.
  c.optim.schedule = "constant"
  return c


@functools.cache
def make(batch=8):
  config = small_config()
  method = method_lib.get("topdown")
  method.validate(config)
  model = method.make_model(config, 10)
  state = method.init_state(config, model, jax.random.key(0), (32, 32))
  rng = np.random.default_rng(0)
  data = {
      "image": jnp.asarray(rng.integers(0, 255, (batch, 32, 32)), jnp.uint8),
      "label": jnp.asarray(rng.integers(0, 10, batch), jnp.int32),
  }
  return config, model, state, data


EXPECTED_ROUTES = {
    "classification": {"glimpse", "core", "action"},
    "context": {"glimpse", "core", "action", "context"},
    "reinforce": {"location"},
    "baseline": {"baseline"},
    "q": {"qnet"},
}


def test_each_loss_term_reaches_exactly_its_networks():
  config, model, state, batch = make()
  images = model_lib.with_channels(batch["image"])
  keys = tuple(jax.random.split(jax.random.key(3), 3))

  @jax.jit
  def all_grads(params, target):
    def term(name, p):
      return td_steps.loss_terms(model, config, p, target, images, batch["label"], keys, 0.5)[0][
          name]
    return {name: jax.grad(functools.partial(term, name))(params) for name in EXPECTED_ROUTES}

  grads = all_grads(state.params(), state.frozen["qnet_target"]["qnet"])
  for term, g in grads.items():
    assert set(g) == set(model_lib.COMPONENTS)
    for name, sub in g.items():
      norm = float(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(sub))))
      if name in EXPECTED_ROUTES[term]:
        assert norm > 0, f"{term} gives no gradient to {name}"
      else:
        assert norm == 0, f"{term} leaks gradient {norm} into {name}"


def test_every_component_moves_and_the_target_follows_by_polyak():
  config, model, state, batch = make()
  s1, _ = jax.jit(td_steps.make_train_step(config, model))(state, batch, jax.random.key(7))
  for name in ("classifier", "location", "baseline", "qnet"):
    before, after = state.trainable[name], s1.trainable[name]
    assert int(after.step) == 1
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before.params, after.params)
    assert all(jax.tree.leaves(moved)), f"{name}: some parameters did not move"
  # Polyak: the target moved by tau = 0.01 of the way to the updated online network.
  expected = jax.tree.map(lambda o, t: 0.01 * o + 0.99 * t, s1.trainable["qnet"].params,
                          state.frozen["qnet_target"])
  chex.assert_trees_all_close(s1.frozen["qnet_target"], expected, rtol=1e-5, atol=1e-7)


def test_ram_arm_leaves_the_q_networks_alone():
  _, _, state, batch = make()
  config = small_config()
  td_config.apply_arm(config, {"ram"})
  model = model_lib.TopDownModel(config, 10)
  new, metrics = jax.jit(td_steps.make_train_step(config, model))(state, batch,
                                                                  jax.random.key(0))
  chex.assert_trees_all_equal(new.trainable["qnet"], state.trainable["qnet"])
  chex.assert_trees_all_equal(new.frozen["qnet_target"], state.frozen["qnet_target"])
  assert "loss/q" not in metrics and "loss/context" not in metrics


def test_eval_step_counts_masks_and_reports_the_pieces():
  config, model, state, batch = make()
  batch = {**batch, "mask": jnp.array([1.0] * 5 + [0.0] * 3), "index": jnp.arange(8)}
  out = jax.jit(td_steps.make_eval_step(config, model))(state, batch, jax.random.key(0))
  assert float(out["count"]) == 5.0
  for k in ("correct", "correct_m1", "correct_context"):
    assert 0 <= float(out[k]) <= 5
  assert np.isfinite(float(out["q_greedy"])) and np.isfinite(float(out["nll"]))


def test_eval_step_descends_once_per_image_as_each_of_its_rollouts_would():
  """The greedy descent runs once per image and serves its M rollouts: the sums are those of
  the definition, in which each of an image's M copies descends on its own."""
  config, model, state, batch = make()
  batch = {**batch, "mask": jnp.array([1.0] * 7 + [0.0]), "index": jnp.arange(8) + 3}
  key = jax.random.key(5)
  assert config.eval.num_rollouts > 1
  # The images' windows differ, so rollouts served by another image's window would show.
  windows = model.descend(state.params()["qnet"], model_lib.as_float_images(
      model_lib.with_channels(batch["image"])), key, greedy=True).top_left
  assert len(np.unique(np.asarray(windows), axis=0)) > 1
  want = jax.jit(td_steps.make_eval_step(config, model, descent_per_rollout=True))(
      state, batch, key)
  got = jax.jit(td_steps.make_eval_step(config, model))(state, batch, key)
  chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-6)


# Configs and pictures (every config end to end: tests/contract_test.py).


def test_ablation_arms_and_glimpse_budgets():
  path = os.path.join(ROOT, "configs", "topdown_clutter100.py")
  flags = lambda c: (c.topdown.enabled, c.bottomup.entropy, c.bottomup.context)
  assert flags(load_config(path, "ram,glimpses6")) == (False, False, False)
  assert flags(load_config(path, "topdown")) == (True, False, False)
  assert flags(load_config(path, "topdown,entropy,quicktest")) == (True, True, False)
  assert flags(load_config(path, "full")) == flags(load_config(path, "")) == (True, True, True)
  assert load_config(path, "ram,glimpses6").model.num_glimpses == 6
  assert load_config(path, "full").model.num_glimpses == 8
  assert load_config(path, "quicktest").train.num_steps == 6
  with pytest.raises(ValueError, match="'ram' and 'full' stand alone"):
    load_config(path, "ram,entropy")
  with pytest.raises(ValueError, match="Unknown config variant 'glimpses7'"):
    load_config(path, "glimpses7")
  mnist = load_config(os.path.join(ROOT, "configs", "topdown_mnist.py"), "quicktest")
  assert flags(mnist) == (False, True, True)
  # The paper's MNIST network is RAM's fully connected one (its Appendix A); 100x100 keeps
  # the conv glimpse network unless `mlp`, 28x28 has it as `conv`.
  assert mnist.model.glimpse_net == "mlp"
  assert load_config(os.path.join(ROOT, "configs", "topdown_mnist.py"),
                     "conv,quicktest").model.glimpse_net == "conv"
  assert load_config(path, "full").model.glimpse_net == "conv"
  assert load_config(path, "full,mlp").model.glimpse_net == "mlp"
  assert [load_config(path, v).data.num_clutter for v in ("full", "full,clutter10")] == [8, 10]
  clutter60 = os.path.join(ROOT, "configs", "topdown_clutter.py")
  assert flags(load_config(clutter60, "")) == (True, True, True)
  assert flags(load_config(clutter60, "ram,cpu")) == (False, False, False)
  cpu = load_config(clutter60, "cpu")
  assert (cpu.data.canvas_size, cpu.model.num_glimpses, cpu.train.num_steps) == (60, 8, 30000)
  assert list(cpu.model.conv_channels) == [16, 32, 32]


def test_indivisible_pyramid_is_refused():
  config = small_config()
  config.data.canvas_size, config.topdown.levels = 36, 3
  with pytest.raises(ValueError, match="not divisible by topdown.grid"):
    td_config.validate(config)


def test_glimpse_norm_epsilon_reaches_the_layernorm_and_damps_noise_on_blank_glimpses():
  """A blank glimpse's conv output is the bias everywhere, with a tiny variance over the glimpse;
  faint noise on it moves the normalised output far at flax's default epsilon and little at a
  larger one, while a glimpse with content barely notices either (docs/robustness.md)."""
  from attn_rl.glimpse import networks
  kwargs = dict(channels=(8, 8, 8), hidden_location=4, features=16)
  small, large = (networks.ConvGlimpseNetwork(**kwargs, norm_epsilon=e) for e in (1e-6, 1e-1))
  blank = jnp.zeros((4, 1, 8, 8, 1))
  content = jax.random.uniform(jax.random.key(3), blank.shape)
  noise = 0.01 * jax.random.uniform(jax.random.key(4), blank.shape)
  locations = jnp.zeros((4, 2))
  params = small.init(jax.random.key(0), blank, locations)
  # Biases as training leaves them: small, unequal (init makes them all 0).
  params = jax.tree_util.tree_map_with_path(
      lambda path, v: 0.01 * jax.random.normal(jax.random.key(len(str(path))), v.shape)
      if "bias" in str(path) else v, params)

  def shift(net, base):
    """Mean move of the first LayerNorm's output when the noise is added."""
    def norm0(x):
      _, inter = net.apply(params, x, locations, capture_intermediates=True,
                           mutable=["intermediates"])
      return inter["intermediates"]["norm0"]["__call__"][0]
    return float(jnp.abs(norm0(base + noise) - norm0(base)).mean())

  assert shift(small, blank) > 10 * shift(large, blank)
  assert shift(small, blank) > 10 * shift(small, content)
  config = small_config()
  config.model.glimpse_norm_epsilon = 0.0
  with pytest.raises(ValueError, match="model.glimpse_norm_epsilon=0.0 must be > 0"):
    td_config.validate(config)


def test_region_picture_draws_the_region(tmp_path):
  image = np.zeros((20, 20), np.uint8)
  png, gif = pictures.save_region_trajectory(
      str(tmp_path / "p"), image, np.zeros((2, 2)), (10, 0, 10), glimpse_size=4, num_scales=1)
  assert os.path.exists(gif)
  rgb = np.asarray(Image.open(png).convert("RGB"))
  zoom, margin = 12, rgb.shape[0] - 20 * 12
  # The region's left edge (column 0, rows 10..19) is yellow; the image's top-left is not.
  assert tuple(rgb[margin + 15 * zoom, 0]) == (255, 220, 0)
  assert tuple(rgb[margin + 2 * zoom, 0]) != (255, 220, 0)
