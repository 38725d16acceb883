"""DREAL: attention modules, mean substitution, rewards, gradient routing, rollouts, step, loop."""

import functools
import glob
import importlib.util
import json
import os
import subprocess
import sys

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from attn_rl.backbones import attention, resnet
from attn_rl.core import checkpointing, loop, optim
from attn_rl.core import method as method_lib
from attn_rl.methods.dreal import analysis as analyze_dreal
from attn_rl.methods.dreal import config as dreal_config
from attn_rl.methods.dreal import rewards
from attn_rl.methods.dreal import steps as dreal_steps
from tests.helpers import load_config

KINDS = ("se", "cbam", "srm")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 16


def small_config(kind="se", critics=True, mean_mode="example"):
  c = dreal_config.defaults()
  c.data.task, c.data.canvas_size = "plain", 28
  c.model.attention, c.model.mean_mode = kind, mean_mode
  c.model.stage_sizes, c.model.widths = [2, 2], [4, 8]
  c.model.stem_width, c.model.stem_stride, c.model.reduction = 4, 1, 2
  c.dreal.critics = critics
  # A constant rate, so that the very first update moves every parameter.
  c.optim.schedule, c.optim.learning_rate = "constant", 0.05
  c.train.num_steps = 10
  return c


@functools.cache
def _init(kind, critics, mean_mode):
  config = small_config(kind, critics, mean_mode)
  method = method_lib.get("dreal")
  method.validate(config)
  model = method.make_model(config, 10)
  state = jax.jit(lambda k: method.init_state(config, model, k, (SIZE, SIZE)))(jax.random.key(0))
  return model, state


def make(kind="se", critics=True, batch=8, mean_mode="example"):
  config = small_config(kind, critics, mean_mode)
  model, state = _init(kind, critics, mean_mode)
  rng = np.random.default_rng(0)
  batch = {
      "image": jnp.asarray(rng.integers(0, 255, (batch, SIZE, SIZE)), jnp.uint8),
      "label": jnp.asarray(rng.integers(0, 10, batch), jnp.int32),
  }
  return config, model, state, batch


def norm(tree) -> float:
  return float(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree))))


# --- Attention modules against hand computations -----------------------------------------


def test_se_gates_channels_as_computed_by_hand():
  x = jnp.arange(2 * 2 * 2 * 4, dtype=jnp.float32).reshape(2, 2, 2, 4) / 10.0
  params = {"fc1": {"kernel": jnp.full((4, 2), 0.1), "bias": jnp.array([0.0, -1.0])},
            "fc2": {"kernel": jnp.array([[1.0, -1.0, 0.5, 0.0], [2.0, 2.0, 2.0, 2.0]]),
                    "bias": jnp.array([0.0, 0.0, 0.0, 0.3])}}
  y, (a,), (pooled,) = attention.SE(reduction=2).apply({"params": params}, x)
  xn = np.asarray(x)
  gap = xn.mean(axis=(1, 2))
  h = np.maximum(gap @ np.full((4, 2), 0.1) + [0.0, -1.0], 0.0)
  gate = 1 / (1 + np.exp(-(h @ np.asarray(params["fc2"]["kernel"]) + [0, 0, 0, 0.3])))
  np.testing.assert_allclose(pooled, gap, rtol=1e-6)
  np.testing.assert_allclose(a, gate, rtol=1e-6)
  np.testing.assert_allclose(y, xn * gate[:, None, None, :], rtol=1e-6)


def test_srm_style_pooling_and_channelwise_fc_by_hand():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(3, 4, 4, 2)).astype(np.float32)
  module = attention.SRM()
  variables = module.init(jax.random.key(0), x)
  weight = np.array([[1.0, -0.5], [0.2, 2.0]], np.float32)
  variables = {"params": {"cfc": jnp.asarray(weight), "bn": variables["params"]["bn"]},
               "batch_stats": variables["batch_stats"]}
  (y, (a,), _), _ = module.apply(variables, x, mutable=["batch_stats"])
  mean, std = x.mean(axis=(1, 2)), np.sqrt(x.var(axis=(1, 2), ddof=1) + 1e-5)
  z = mean * weight[:, 0] + std * weight[:, 1]
  z = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)  # Training-mode BN, scale 1, offset 0.
  gate = 1 / (1 + np.exp(-z))
  np.testing.assert_allclose(a, gate, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(y, x * gate[:, None, None, :], rtol=1e-4, atol=1e-5)


def test_cbam_channel_then_spatial_gate_shapes_and_channel_gate_by_hand():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 5, 5, 8)).astype(np.float32)
  module = attention.CBAM(reduction=4)
  variables = module.init(jax.random.key(0), x)
  (y, (a_c, a_s), (avg, chan_mean)), _ = module.apply(variables, x, mutable=["batch_stats"])
  assert a_c.shape == (2, 8) and a_s.shape == (2, 25) and y.shape == x.shape
  p = variables["params"]
  mlp = lambda v: (np.maximum(v @ p["mlp_fc1"]["kernel"] + p["mlp_fc1"]["bias"], 0)
                   @ p["mlp_fc2"]["kernel"] + p["mlp_fc2"]["bias"])
  gate = 1 / (1 + np.exp(-(mlp(x.mean((1, 2))) + mlp(x.max((1, 2))))))
  np.testing.assert_allclose(a_c, gate, rtol=1e-5, atol=1e-6)
  refined = x * gate[:, None, None, :]
  np.testing.assert_allclose(chan_mean, refined.mean(-1).reshape(2, 25), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(y, refined * np.asarray(a_s).reshape(2, 5, 5, 1), rtol=1e-5,
                             atol=1e-6)
  assert p["spatial_conv"]["kernel"].shape == (7, 7, 2, 1) and "bias" not in p["spatial_conv"]


@pytest.mark.parametrize("shape,k", [((3, 11, 9, 2), 7), ((2, 4, 6, 3), 3), ((1, 2, 2, 1), 5)])
def test_banded_single_output_conv_is_the_same_conv(shape, k):
  """Same parameter (name, shape, initial value) and function, values and gradients, as
  nn.Conv(1, (k, k), padding=k // 2, use_bias=False), also with the image smaller than k."""
  x = jax.random.normal(jax.random.key(1), shape)
  reference = nn.Conv(1, (k, k), padding=k // 2, use_bias=False)
  banded = attention.SingleOutputConv(k)
  params = reference.init(jax.random.key(0), x)
  chex.assert_trees_all_equal(banded.init(jax.random.key(0), x), params)
  loss = lambda m: lambda p, x: jnp.sum(jnp.sin(m.apply(p, x)))
  np.testing.assert_allclose(banded.apply(params, x), reference.apply(params, x),
                             rtol=1e-5, atol=1e-5)
  grads = jax.grad(loss(banded), argnums=(0, 1))(params, x)
  expected = jax.grad(loss(reference), argnums=(0, 1))(params, x)
  chex.assert_trees_all_close(grads, expected, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="odd kernel size"):
    attention.SingleOutputConv(4).init(jax.random.key(0), x)


# --- Mean substitution and rewards ---------------------------------------------------------


def test_substitute_mean_per_example_and_batch():
  a = jnp.array([[0.1, 0.3, 0.8], [0.5, 0.5, 0.2]])
  np.testing.assert_allclose(attention.substitute_mean(a, jnp.array(False), "example"), a)
  np.testing.assert_allclose(attention.substitute_mean(a, jnp.array(True), "example"),
                             [[0.4, 0.4, 0.4], [0.4, 0.4, 0.4]], rtol=1e-6)
  np.testing.assert_allclose(attention.substitute_mean(a, jnp.array(True), "batch"),
                             [[0.3, 0.4, 0.5], [0.3, 0.4, 0.5]], rtol=1e-6)


@pytest.mark.parametrize("mean_mode", ["example", "batch"])
def test_override_replaces_exactly_one_map_in_the_network(mean_mode):
  _, model, state, batch = make("cbam", mean_mode=mean_mode)
  variables = {"params": {**state.trainable["backbone"].params, **state.trainable["actor"].params},
               "batch_stats": state.frozen["batch_stats"]}
  run = jax.jit(lambda o: model.apply(variables, batch["image"], o, train=True,
                                      mutable=["batch_stats"])[0])
  logits, trace = run(-1)
  # Map 5 = block 2's spatial map: earlier maps unchanged, the network output changes.
  logits5, trace5 = run(5)
  for block in range(2):
    for k in range(2):
      np.testing.assert_array_equal(trace.maps[block][k], trace5.maps[block][k])
  assert not np.allclose(logits, logits5)
  # The substituted map is what the module computed; what gates the features is its mean.
  np.testing.assert_array_equal(trace.maps[2][1], trace5.maps[2][1])
  a = np.asarray(trace.maps[2][1])
  mean = a.mean(1, keepdims=True) if mean_mode == "example" else a.mean(0, keepdims=True)
  x = np.asarray(trace.inputs[2])
  refined = x * np.asarray(trace.maps[2][0])[:, None, None, :]
  gated = refined * np.broadcast_to(mean, a.shape).reshape(refined.shape[:3] + (1,))
  module = model.attention_module(2)
  vars2 = {"params": state.trainable["actor"].params["attention2"],
           "batch_stats": state.frozen["batch_stats"]["attention2"]}
  (y, _, _), _ = module.apply(vars2, trace.inputs[2], jnp.array([False, True]), True,
                              mutable=["batch_stats"])
  np.testing.assert_allclose(y, gated, rtol=1e-5, atol=1e-6)


def test_reward_formula_by_hand_with_wrong_predictions_and_clipping():
  p_full = jnp.array([0.8, 0.5, 0.2, 0.9])
  p_sub = jnp.array([0.6, 1.0, 0.1, 0.05])
  correct = jnp.array([True, True, False, True])
  r = rewards.substitution_reward(p_full, p_sub, correct)
  # 1 - 0.6/0.8; 1 - 2 = -1 (at the clip); wrong: -gamma; 1 - 0.05/0.9.
  np.testing.assert_allclose(r, [0.25, -1.0, -1.0, 1 - 0.05 / 0.9], rtol=1e-6)
  clipped = rewards.substitution_reward(jnp.array([0.3]), jnp.array([0.9]), jnp.array([True]))
  np.testing.assert_allclose(clipped, [-1.0])  # 1 - 3 = -2 clipped to -1.
  squashed = rewards.substitution_reward(p_full, p_sub, correct, gamma=0.5, transform="tanh")
  np.testing.assert_allclose(squashed, np.tanh([0.25, -1.0, 0.0, 1 - 0.05 / 0.9]) * [1, 1, 0, 1]
                             + [0, 0, -0.5, 0], rtol=1e-6)
  half = rewards.substitution_reward(p_full, p_sub, correct, gamma=0.5)
  assert float(half[2]) == -0.5


# --- Gradient routing, critics, rollouts ---------------------------------------------------

EXPECTED_ROUTES = {
    "classification": {"backbone", "actor"},
    "actor": {"actor"},
    "critic": {"critic"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_loss_reaches_only_its_parameter_group(kind):
  config, model, state, batch = make(kind)
  overrides = dreal_steps.choose_overrides(model, jax.random.key(3))

  def term(name):
    def f(backbone, actor, critic):
      terms, _ = dreal_steps.loss_terms(model, config.dreal, backbone, actor, critic,
                                        state.frozen["batch_stats"], batch["image"],
                                        batch["label"], overrides)
      return terms[name]
    return f

  @jax.jit
  def all_grads(groups):
    return {n: jax.grad(term(n), argnums=(0, 1, 2))(*groups) for n in EXPECTED_ROUTES}

  all_g = all_grads(tuple(state.trainable[g].params for g in ("backbone", "actor", "critic")))
  for name, route in EXPECTED_ROUTES.items():
    for group, g in zip(("backbone", "actor", "critic"), all_g[name], strict=True):
      if group in route:
        assert norm(g) > 0, f"{kind}: {name} gives no gradient to {group}"
      else:
        assert norm(g) == 0, f"{kind}: {name} leaks gradient {norm(g)} into {group}"


def test_overrides_pick_one_block_per_stage_and_every_map_of_it():
  _, model, _, _ = make("cbam")
  seen = set()
  for i in range(20):
    o = np.asarray(dreal_steps.choose_overrides(model, jax.random.key(i)))
    assert o.shape == (4,) and o[1] == o[0] + 1 and o[3] == o[2] + 1 and o[0] % 2 == 0
    assert o[0] // 2 in (0, 1) and o[2] // 2 in (2, 3)
    seen.add((int(o[0]), int(o[2])))
  assert len(seen) == 4


def test_onemap_overrides_pick_one_map_of_the_drawn_block_per_stage():
  _, model, _, _ = make("cbam")
  seen = set()
  for i in range(40):
    block = np.asarray(dreal_steps.choose_overrides(model, jax.random.key(i)))
    o = np.asarray(dreal_steps.choose_overrides(model, jax.random.key(i), "map"))
    assert o.shape == (2,)
    # The same blocks as 'block' draws from the same key; one of their two maps.
    assert o[0] in block[:2] and o[1] in block[2:]
    seen.update((int(o[0] % 2), int(o[1] % 2)))
  assert seen == {0, 1}
  with pytest.raises(ValueError, match="dreal.substitute"):
    dreal_steps.choose_overrides(model, jax.random.key(0), "all")


def test_onemap_step_updates_the_critics():
  config, model, state, batch = make("cbam")
  with config.unlocked():
    config.dreal.substitute = "map"
  new, metrics = jax.jit(dreal_steps.make_train_step(config, model))(
      state, batch, jax.random.key(0))
  assert np.isfinite(float(metrics["loss/critic"]))
  assert norm(jax.tree.map(jnp.subtract, new.trainable["critic"].params,
                           state.trainable["critic"].params)) > 0


def test_vmapped_rollout_equals_a_loop_of_single_forwards():
  _, model, state, batch = make("cbam")
  variables = {"params": {**state.trainable["backbone"].params, **state.trainable["actor"].params},
               "batch_stats": state.frozen["batch_stats"]}
  overrides = jnp.array([1, 2, 6, -1], jnp.int32)
  probs = jax.jit(lambda o: dreal_steps.substituted_true_probs(
      model, variables, batch["image"], batch["label"], o))
  vmapped = probs(overrides)
  looped = [probs(o[None])[0] for o in overrides]
  np.testing.assert_allclose(vmapped, np.stack(looped), rtol=1e-5, atol=1e-7)
  # A real substitution changes p_c; -1 (none) reproduces the unchanged network.
  assert not np.allclose(vmapped[0], vmapped[3])
  # Starting each stage's rollouts at its drawn block's attention module, from what the
  # unchanged forward saved, gives the full forwards' result, whichever block is drawn.
  (_, trace), _ = model.apply(variables, batch["image"], train=True, mutable=["batch_stats"])
  reused = jax.jit(lambda o: dreal_steps.rollouts_from_drawn_blocks(
      model, variables, trace, batch["label"], o))
  # Blocks 1 and 3 (second of each stage), blocks 0 and 2 (first, with the projection
  # shortcut in stage 1), and one map per stage ('map').
  for chosen in ([2, 3, 6, 7], [0, 1, 4, 5], [3, 4]):
    chosen = jnp.array(chosen, jnp.int32)
    np.testing.assert_allclose(reused(chosen), probs(chosen), rtol=1e-5, atol=1e-7)


def test_a_block_started_at_its_branch_output_continues_the_network():
  _, model, state, batch = make("cbam")
  variables = {"params": {**state.trainable["backbone"].params, **state.trainable["actor"].params},
               "batch_stats": state.frozen["batch_stats"]}
  logits, trace = model.apply(variables, batch["image"], train=False)
  for i in range(model.num_blocks):
    resumed, _ = model.apply(variables, trace.block_inputs[i], train=False, start_block=i,
                             start_branch=trace.inputs[i])
    np.testing.assert_allclose(resumed, logits, rtol=1e-5, atol=1e-6)
  # The branch output is what the block's convolutions would give: a wrong one changes the
  # result (so the block really reads it).
  wrong, _ = model.apply(variables, trace.block_inputs[1], train=False, start_block=1,
                         start_branch=2 * trace.inputs[1])
  assert not np.allclose(wrong, logits, atol=1e-4)
  with pytest.raises(ValueError, match="start_branch needs start_block"):
    model.apply(variables, batch["image"], train=False, start_branch=trace.inputs[0])


def test_critics_are_training_only_and_counted_apart():
  _, model, state, batch = make("cbam")
  inference = method_lib.get("dreal").inference_params(state)
  assert set(inference) == {"params", "batch_stats"}
  assert not any(k.startswith("stage") for k in inference["params"])
  assert set(state.trainable["critic"].params) == {
      "stage0_channel", "stage0_spatial", "stage1_channel", "stage1_spatial"}
  out = dreal_steps.make_predict(model)(inference, batch["image"], None)
  assert out["logits"].shape == (8, 10) and len(out["maps"]) == 4
  # Scalar hidden state: each LSTM gate reads [reduced, map] of width 2D into one unit.
  kernel = state.trainable["critic"].params["stage0_spatial"]["ii"]["kernel"]
  assert kernel.shape == (2 * SIZE * SIZE, 1)
  assert resnet.num_params(state.trainable["critic"].params) > 0


# --- The step ------------------------------------------------------------------------------


def test_train_step_is_pure_traces_once_and_routes_like_vanilla_plus_q():
  config, model, state, batch = make("srm")
  chex.clear_trace_counter()
  step = jax.jit(chex.assert_max_traces(dreal_steps.make_train_step(config, model), n=1))
  key = jax.random.key(7)
  s1, m1 = step(state, batch, key)
  s1b, m1b = step(state, batch, key)
  chex.assert_trees_all_equal((s1, m1), (s1b, m1b))
  s2, m2 = step(s1, batch, key)
  chex.assert_trees_all_equal_shapes(state, s2)
  assert all(np.isfinite(float(v)) for v in m2.values())
  # A new step number draws other blocks: other rewards, same trace.
  assert float(m2["prob/substituted"]) != float(m1["prob/substituted"])
  moved = lambda a, b: norm(jax.tree.map(lambda x, y: x - y, a, b)) > 0
  for group in ("backbone", "actor", "critic"):
    assert moved(s1.trainable[group].params, state.trainable[group].params), group
  assert moved(s1.frozen["batch_stats"], state.frozen["batch_stats"])

  # Vanilla, from the same state: L_c alone. The backbone's gradient is the same (L_q and
  # L_r do not reach it); the actor's differs by L_q's; the critic stays put.
  vanilla = small_config("srm", critics=False)
  v1, mv = jax.jit(dreal_steps.make_train_step(vanilla, model))(state, batch, key)
  assert "loss/critic" not in mv and "reward/mean" not in mv
  chex.assert_trees_all_equal(v1.trainable["critic"].params, state.trainable["critic"].params)
  assert moved(v1.trainable["actor"].params, state.trainable["actor"].params)
  np.testing.assert_allclose(m1["grad_norm/backbone"], mv["grad_norm/backbone"], rtol=1e-5)
  assert abs(float(m1["grad_norm/actor"]) - float(mv["grad_norm/actor"])) > 1e-7
  np.testing.assert_allclose(m1["loss/classification"], mv["loss/classification"], rtol=1e-6)


def test_actor_delay_keeps_l_q_from_the_actor_while_the_critics_warm_up():
  config, model, state, batch = make("se")
  key = jax.random.key(7)
  delayed = small_config("se")
  delayed.dreal.actor_delay_steps = 2
  assert float(dreal_steps.actor_weight(delayed.dreal, 1)) == 0.0
  assert float(dreal_steps.actor_weight(delayed.dreal, 2)) == delayed.dreal.q_weight
  step = jax.jit(dreal_steps.make_train_step(delayed, model))
  paper = jax.jit(dreal_steps.make_train_step(config, model))
  vanilla = jax.jit(dreal_steps.make_train_step(small_config("se", critics=False), model))
  # Step 0 < 2: the actor sees L_c alone (vanilla's gradient) while the critic still learns.
  d0, m0 = step(state, batch, key)
  v0, mv = vanilla(state, batch, key)
  np.testing.assert_allclose(m0["grad_norm/actor"], mv["grad_norm/actor"], rtol=1e-5)
  chex.assert_trees_all_close(d0.trainable["actor"].params, v0.trainable["actor"].params,
                              rtol=1e-5, atol=1e-7)
  assert norm(jax.tree.map(lambda a, b: a - b, d0.trainable["critic"].params,
                           state.trainable["critic"].params)) > 0
  # From step 2 on it is the paper's step exactly.
  at2 = state.replace(trainable={
      name: ts.replace(step=jnp.asarray(2, ts.step.dtype)) for name, ts in state.trainable.items()})
  chex.assert_trees_all_equal(step(at2, batch, key), paper(at2, batch, key))


def test_redraw_every_steps_holds_the_drawn_blocks_and_defaults_to_a_new_draw_each_step():
  _, model, _, _ = make("se")
  key = jax.random.key(3)
  held = small_config("se").dreal
  held.redraw_every_steps = 4
  draws = [tuple(np.asarray(dreal_steps.choose_overrides(
      model, dreal_steps.draw_key(held, key, t)))) for t in range(16)]
  assert all(draws[t] == draws[t - t % 4] for t in range(16))
  assert len({draws[t] for t in range(0, 16, 4)}) > 1
  # The default: one draw per step, from the key the step used before the knob existed.
  per_step = small_config("se").dreal
  for t in (0, 5):
    (old,) = jax.random.split(jax.random.fold_in(key, t), 1)
    chex.assert_trees_all_equal(jax.random.key_data(dreal_steps.draw_key(per_step, key, t)),
                                jax.random.key_data(old))


def test_wider_critic_state_is_a_tanh_read_out_and_the_default_is_the_paper_s_scalar():
  _, model, _, batch = make("cbam")
  images = jnp.zeros((3, SIZE, SIZE), jnp.uint8)
  (_, trace), _ = model.init_with_output(jax.random.key(0), images, train=False)
  paper = dreal_steps.make_critics(model)
  p1 = paper.init(jax.random.key(1), trace.maps, trace.reduced)["params"]
  assert all(not name.endswith("_q") for name in p1)
  assert all(v["hi"]["kernel"].shape[-1] == 1 for v in p1.values())
  wide = dreal_steps.make_critics(model, hidden=8)
  p8 = wide.init(jax.random.key(1), trace.maps, trace.reduced)["params"]
  # One LSTM and one read-out per stage and map kind (2 stages x channel, spatial).
  assert sorted(p8) == sorted([*p1, *(f"{n}_q" for n in p1)])
  q = wide.apply({"params": p8}, trace.maps, trace.reduced)
  assert q.shape == (len(trace.maps) * 2, 3) and bool(jnp.all(jnp.abs(q) < 1))
  config = small_config("cbam")
  config.dreal.critic_hidden = 8
  state = dreal_steps.init_variables(model, jax.random.key(0), (SIZE, SIZE), 8)
  chex.assert_trees_all_equal_shapes(state["critic"], p8)
  for key, value, message in (("critic_hidden", 0, "dreal.critic_hidden=0 must be a positive"),
                              ("redraw_every_steps", 0, "dreal.redraw_every_steps=0"),
                              ("actor_delay_steps", -1, "dreal.actor_delay_steps=-1 must be")):
    bad = small_config("se")
    bad.dreal[key] = value
    with pytest.raises(ValueError, match=message):
      dreal_config.validate(bad)


def test_eval_step_counts_and_masks():
  config, model, state, batch = make("cbam")
  batch = {**batch, "mask": jnp.array([1.0] * 5 + [0.0] * 3)}
  out = jax.jit(dreal_steps.make_eval_step(config, model))(state, batch, jax.random.key(0))
  assert float(out["count"]) == 5.0 and 0 <= float(out["correct"]) <= 5
  assert float(out["nll"]) > 0


def test_weight_decay_skips_srm_bn_and_biases():
  _, _, state, _ = make("srm")
  mask = optim.kernel_mask(state.trainable["actor"].params)
  assert mask["attention0"]["cfc"] is False and mask["attention0"]["bn"]["scale"] is False
  mask = optim.kernel_mask(state.trainable["backbone"].params)
  assert mask["block0_conv1"]["kernel"] is True and mask["head"]["bias"] is False


# --- End to end through the loop -----------------------------------------------------------


def _clutter_config(arg):
  spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs",
                                                                    "dreal_clutter.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  with c.unlocked():
    c.data.source = "synthetic"
    # A 28x28 translated canvas keeps the test fast; the config's task is 60x60 clutter.
    c.data.task, c.data.canvas_size = "translated", 28
  return c


def test_analysis_restores_the_selected_checkpoint(tmp_path):
  """Through the loop on a small canvas (tests/contract_test.py runs every config file), then
  the analysis tool's pieces on the validation-selected checkpoint."""
  config = _clutter_config("srm,quicktest")
  workdir = str(tmp_path / "w")
  results = loop.train_and_evaluate(config, workdir)
  assert results["finished"] and 0.0 <= results["error"] <= 1.0
  assert glob.glob(os.path.join(workdir, "pictures", "test_*.gif"))
  assert glob.glob(os.path.join(workdir, "pictures", "validation_*.png"))
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=2)
  assert ckpt.latest_step() == 6
  # The analysis restores the validation-selected checkpoint and reads validation canvases.
  config, _, model, state, meta = loop.load_trained(workdir)
  assert meta["step"] == results["selected_step"]
  batches = analyze_dreal.validation_batches(config, 40)
  assert [x.shape[0] for x, _ in batches] == [16, 16]
  gates = analyze_dreal.channel_gates(model, state, batches)
  assert len(gates) == len(model.stage_of_block())
  assert all(g.shape[0] == 32 and ((g > 0) & (g < 1)).all() for g in gates)


def test_critic_probe_trains_the_critics_alone_on_the_training_step_s_loss():
  config, model, state, batch = make("cbam")
  tx = optax.adam(1e-2)
  critic = state.trainable["critic"].params
  step = analyze_dreal.make_critic_probe(model, config.dreal, tx)
  key = jax.random.key(5)
  new, opt_state, loss = step(critic, tx.init(critic), state, batch["image"], batch["label"],
                              key)
  # Its loss is the training step's L_r for the same draw of blocks.
  terms, _ = dreal_steps.loss_terms(
      model, config.dreal, *(state.trainable[g].params for g in ("backbone", "actor", "critic")),
      state.frozen["batch_stats"], batch["image"], batch["label"],
      dreal_steps.choose_overrides(model, key))
  np.testing.assert_allclose(loss, terms["critic"], rtol=1e-6)
  assert norm(jax.tree.map(jnp.subtract, new, critic)) > 0
  # A vanilla run's config (critics=False) still gets the rewards; on one batch the critic
  # fits them better and better.
  with config.unlocked():
    config.dreal.critics = False
  step = analyze_dreal.make_critic_probe(model, config.dreal, tx)
  first = None
  for _ in range(60):
    critic_next, opt_state, loss = step(new, opt_state, state, batch["image"], batch["label"],
                                        key)
    first = float(loss) if first is None else first
    new = critic_next
  assert float(loss) < 0.5 * first


def test_prediction_stats_by_hand():
  r = np.array([[0.0, 0.5, 1.0, -1.0], [0.2, 0.2, 0.4, 0.4]])
  perfect = analyze_dreal.prediction_stats(r.copy(), r)
  assert perfect["mse"] == 0 and perfect["explained"] == 1
  np.testing.assert_allclose(perfect["pearson_r_per_map"], [1, 1])
  constant = analyze_dreal.prediction_stats(r.mean(axis=1, keepdims=True) + 0 * r, r)
  np.testing.assert_allclose(constant["explained"], 0, atol=1e-12)
  assert constant["pearson_r_per_map"] == [None, None]
  # Variance per map: 0.546875 and 0.01; MSE of predicting 0 everywhere: 0.5625 and 0.1.
  zero = analyze_dreal.prediction_stats(np.zeros_like(r), r)
  np.testing.assert_allclose(zero["reward_variance"], (0.546875 + 0.01) / 2)
  np.testing.assert_allclose(zero["explained"], 1 - (0.5625 + 0.1) / 2 / 0.2784375)
  # Restricted to the correctly predicted images (columns 0 and 2 here).
  q = r + np.array([[0.0, 9.0, 0.0, 9.0], [0.1, 9.0, 0.1, 9.0]])
  split = analyze_dreal.prediction_stats(q, r, np.array([True, False, True, False]))
  assert split["fraction_correct"] == 0.5
  np.testing.assert_allclose(split["correct_only"]["pearson_r_per_map"], [1, 1])
  np.testing.assert_allclose(split["correct_only"]["mse"], (0 + 0 + 0.01 + 0.01) / 4)
  assert split["explained"] < 0 < split["correct_only"]["explained"]


def test_probe_critics_cli_writes_the_curve(tmp_path):
  # The figure needs the optional matplotlib ('.[viz]'); the numbers do not.
  plot = importlib.util.find_spec("matplotlib") is not None
  workdir = str(tmp_path / "w")
  loop.train_and_evaluate(_clutter_config("se,vanilla,quicktest"), workdir)
  out = tmp_path / "probe"
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  subprocess.run([sys.executable, "-m", "attn_rl.tools.probe_critics", f"--workdir={workdir}",
                  "--steps=4", "--every=2", "--num=40", f"--out={out}", f"--plot={plot}",
                  "--critic_hidden=4"],
                 check=True, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
  result = json.loads((out / "probe.json").read_text())
  assert [c["step"] for c in result["curve"]] == [0, 2, 4]
  assert result["network_trained_with_critics"] is False and "own_critics" not in result
  assert result["split"] == "validation" and result["num_images"] == 32
  assert result["critic_hidden"] == 4
  assert all(np.isfinite(c["mse"]) for c in result["curve"])
  assert all(0 <= c["fraction_correct"] <= 1 and "correct_only" in c for c in result["curve"])
  assert (out / "probe.png").exists() == plot


@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_analysis_q_and_reward_are_the_training_step_s(kind):
  """Restricted to the maps the step draws, the analysis's Q and R average to its metrics."""
  config, model, state, batch = make(kind)
  overrides = dreal_steps.choose_overrides(model, jax.random.key(3))
  q, r = analyze_dreal.make_q_and_reward(model, config.dreal)(state, batch["image"],
                                                              batch["label"])
  assert q.shape == r.shape == (len(model.stage_of_block()) * model.maps_per_block, 8)
  _, (metrics, _, _) = dreal_steps.loss_terms(
      model, config.dreal, *(state.trainable[g].params for g in ("backbone", "actor", "critic")),
      state.frozen["batch_stats"], batch["image"], batch["label"], overrides)
  np.testing.assert_allclose(r[overrides].mean(), metrics["reward/mean"], atol=1e-5)
  np.testing.assert_allclose(q[overrides].mean(), metrics["q/substituted"], atol=1e-6)


def test_analysis_statistics_by_hand():
  gates = [np.array([[0.2, 0.8], [0.4, 0.6]])]
  (row,) = analyze_dreal.gate_stats(gates)
  assert row["channels"] == 2 and row["mean_gate"] == pytest.approx(0.5)
  # Channel medians 0.3 and 0.7: their spread is 0.2; each channel's spread over images 0.1.
  assert row["std_across_channels_of_median"] == pytest.approx(0.2)
  assert row["mean_std_across_images"] == pytest.approx(0.1)
  q = np.array([[0.1, 0.3, 0.5], [0.0, 0.0, 0.0]])
  r = np.array([[0.2, 0.4, 0.6], [1.0, -1.0, 0.0]])
  rows = analyze_dreal.q_reward_stats(q, r, maps_per_block=2)
  assert rows[0]["pearson_r"] == pytest.approx(1.0) and rows[0]["mean_abs_error"] == (
      pytest.approx(0.1))
  assert rows[1]["block"] == 0 and rows[1]["pearson_r"] is None  # Q constant: no correlation.
  assert rows[1]["mean_reward"] == pytest.approx(0.0)


def test_config_variants():
  c = _clutter_config("cbam,vanilla,batchmean")
  assert (c.model.attention, c.dreal.critics, c.model.mean_mode) == ("cbam", False, "batch")
  assert _clutter_config(None).model.attention == "se"
  with pytest.raises(ValueError, match="'se' and 'cbam' exclude each other"):
    _clutter_config("se,cbam")
  with pytest.raises(ValueError, match="Unknown config variant 'sse'"):
    _clutter_config("sse")


def test_image_augmentation_is_deterministic_and_shaped():
  from attn_rl.data import images
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, (300, 400, 3)).astype(np.uint8)
  crop = lambda seed: images.augment(photo, "imagenet", 224, np.random.default_rng([seed, 0, 5]))
  assert crop(1).shape == (224, 224, 3)
  np.testing.assert_array_equal(crop(1), crop(1))
  assert not np.array_equal(crop(1), crop(2))
  centre = images.augment(photo, "imagenet", 224, None)
  # Shorter side 300 -> 256, then the centre 224 x 224.
  ref = np.asarray(images.Image.fromarray(photo).resize((341, 256), images.Image.BILINEAR))
  np.testing.assert_array_equal(centre, ref[16:240, 58:282])
  small = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
  assert images.augment(small, "cifar", 32, np.random.default_rng(3)).shape == (32, 32, 3)
  np.testing.assert_array_equal(images.augment(small, "cifar", 32, None), small)


def test_plain_resnet_refuses_critics_and_has_no_actor():
  config = load_config(os.path.join(ROOT, "configs", "dreal_mnist.py"), "none,quicktest")
  with pytest.raises(ValueError, match="no attention maps for critics"):
    method_lib.get("dreal").validate(config)
  config = load_config(os.path.join(ROOT, "configs", "dreal_mnist.py"), "none,vanilla,quicktest")
  method_lib.get("dreal").validate(config)
  model = resnet.make_resnet(config.model, 10)
  variables = dreal_steps.init_variables(model, jax.random.key(0), (28, 28))
  assert variables["actor"] == {} and variables["critic"] == {}
  assert model.maps_per_block == 0
