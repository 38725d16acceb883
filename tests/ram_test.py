"""RAM step: gradient routing term by term, component updates, the location learning rate, the
rolled and unrolled loops (purity, one trace and 1 vs 8 devices: tests/contract_test.py)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from attn_rl.core import method as method_lib
from attn_rl.methods.ram import config as ram_config
from attn_rl.methods.ram import steps as ram_steps
from attn_rl.methods.ram.model import COMPONENTS

EXPECTED_ROUTES = {
    "classification": {"glimpse", "core", "action"},
    "reinforce": {"location"},
    "baseline": {"baseline"},
}


def small_config(core="rnn"):
  c = ram_config.defaults()
  c.data.task, c.data.canvas_size = "translated", 40
  c.model.num_glimpses, c.model.glimpse_size, c.model.num_scales = 3, 6, 2
  c.model.core = core
  c.rl.num_rollouts = 2
  c.train.num_steps = 10
  # A constant rate, so that the very first update moves every parameter.
  c.optim.schedule = "constant"
  return c


def make(core="rnn", batch=8):
  config = small_config(core)
  method = method_lib.get("ram")
  model = method.make_model(config, 10)
  state = method.init_state(config, model, jax.random.key(0), (40, 40))
  rng = np.random.default_rng(0)
  batch = {
      "image": jnp.asarray(rng.integers(0, 255, (batch, 40, 40)), jnp.uint8),
      "label": jnp.asarray(rng.integers(0, 10, batch), jnp.int32),
  }
  return config, model, state, batch


def grad_norms(grads):
  return {name: float(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(g))))
          for name, g in grads.items()}


@pytest.mark.parametrize("core", ["rnn", "lstm"])
@pytest.mark.parametrize("term", sorted(EXPECTED_ROUTES))
def test_each_loss_term_reaches_exactly_its_networks(core, term):
  _, model, state, batch = make(core)
  images = jnp.repeat(batch["image"], 2, 0)
  labels = jnp.repeat(batch["label"], 2, 0)

  def one_term(params):
    terms, _ = ram_steps.loss_terms(model, params, images, labels, jax.random.key(3))
    return terms[term]

  norms = grad_norms(jax.grad(one_term)(state.params()))
  assert set(norms) == set(COMPONENTS)
  for name, norm in norms.items():
    if name in EXPECTED_ROUTES[term]:
      assert norm > 0, f"{term} gives no gradient to {name}"
    else:
      assert norm == 0, f"{term} leaks gradient {norm} into {name}"


def test_each_component_moves_and_keeps_its_own_optimizer():
  config, model, state, batch = make()
  new, _ = jax.jit(ram_steps.make_train_step(config, model))(state, batch, jax.random.key(0))
  for name in ("classifier", "location", "baseline"):
    before, after = state.trainable[name], new.trainable[name]
    assert int(after.step) == int(before.step) + 1
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before.params, after.params)
    assert all(jax.tree.leaves(moved)), f"{name}: some parameters did not move"


def test_location_gradient_only_from_reinforce_in_the_step():
  """Switching off the REINFORCE weight freezes the location network: no other path to it."""
  config, model, state, batch = make()
  config.rl.reinforce_weight = 0.0
  config.optim.grad_clip_norm = 0.0
  new, metrics = jax.jit(ram_steps.make_train_step(config, model))(state, batch, jax.random.key(0))
  chex.assert_trees_all_equal(new.trainable["location"].params, state.trainable["location"].params)
  assert float(metrics["grad_norm/location"]) == 0.0


def test_eval_step_counts_and_masks():
  config, model, state, batch = make()
  batch = {**batch, "mask": jnp.array([1.0] * 5 + [0.0] * 3), "index": jnp.arange(8)}
  out = jax.jit(ram_steps.make_eval_step(config, model))(state, batch, jax.random.key(0))
  assert float(out["count"]) == 5.0
  assert 0 <= float(out["correct"]) <= 5 and 0 <= float(out["correct_m1"]) <= 5


def test_location_lr_scale_scales_only_the_location_update():
  """Adam's first update is lr * g / (|g| + eps): scaling the location rate by 0.1 scales
  that component's update by 0.1 and leaves the classifier's and baseline's unchanged."""
  config, model, state, batch = make()
  key = jax.random.key(0)
  step = lambda c, s: jax.jit(ram_steps.make_train_step(c, model))(s, batch, key)[0]
  full = step(config, state)
  config.optim.location_lr_scale = 0.1
  method = method_lib.get("ram")
  slow = step(config, method.init_state(config, model, jax.random.key(0), (40, 40)))
  delta = lambda new, name: jax.tree.map(
      lambda a, b: a - b, new.trainable[name].params, state.trainable[name].params)
  chex.assert_trees_all_close(delta(slow, "location"),
                              jax.tree.map(lambda d: 0.1 * d, delta(full, "location")),
                              rtol=1e-3, atol=2e-8)  # float32 rounding of params ~0.1.
  for name in ("classifier", "baseline"):
    chex.assert_trees_all_equal(slow.trainable[name].params, full.trainable[name].params)


@pytest.mark.parametrize("core", ["rnn", "lstm"])
def test_unrolled_and_rolled_glimpse_loops_compute_the_same_episode(core):
  """model.unroll only changes how XLA schedules the episode: same losses, same gradients."""
  config, rolled_model, state, batch = make(core)
  assert rolled_model.scan_unroll is True  # The default unrolls.
  config.model.unroll = False
  rolled_model = method_lib.get("ram").make_model(config, 10)
  assert rolled_model.scan_unroll == 1
  config.model.unroll = True
  unrolled_model = method_lib.get("ram").make_model(config, 10)

  def loss_and_grads(model):
    def total(params):
      terms, _ = ram_steps.loss_terms(model, params, batch["image"], batch["label"],
                                      jax.random.key(3))
      return sum(terms.values()), terms
    return jax.jit(jax.grad(total, has_aux=True))(state.params())

  grads_u, terms_u = loss_and_grads(unrolled_model)
  grads_r, terms_r = loss_and_grads(rolled_model)
  chex.assert_trees_all_close(terms_u, terms_r, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(grads_u, grads_r, rtol=1e-4, atol=1e-6)
  assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(grads_u["core"]))
