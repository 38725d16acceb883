"""op_profile: HLO names to op_name metadata, attribution rules, and a traced breakdown."""

import collections

import jax
import jax.numpy as jnp
import pytest

from attn_rl.tools import op_profile


def _loss(w, x):
  with jax.named_scope("first"):
    h = jnp.tanh(x @ w["a"])
  with jax.named_scope("second"):
    return jnp.sum((h @ w["b"]) ** 2)


def _step(w, x):
  g = jax.grad(_loss)(w, x)
  return jax.tree.map(lambda p, d: p - 0.1 * d, w, g)


def _args():
  w = {"a": jnp.ones((64, 64)) / 64, "b": jnp.ones((64, 8)) / 64}
  return w, jnp.ones((32, 64))


def test_hlo_op_names_map_instructions_to_scopes():
  step = jax.jit(_step)
  names = op_profile.hlo_op_names(step.lower(*_args()).compile().as_text())
  scopes = set(names.values())
  assert any("jvp(first)" in s for s in scopes)
  assert any("transpose(jvp(second))" in s for s in scopes)
  assert all(n and " " not in n for n in names)


@pytest.mark.parametrize("op_name, component, pass_", [
    ("jit(f)/jvp()/while/body/closed_call/CoreNetwork/input/dot_general", "CoreNetwork",
     "forward"),
    ("jit(f)/transpose(jvp())/while/body/closed_call/sensor/vmap()/gather", "sensor",
     "backward"),
    ("jit(f)/transpose(jvp(sensor))/pad", "sensor", "backward"),
    ("jit(f)/mul", "other (update)", "update"),
    # A name that merely contains a component's name is not that component.
    ("jit(f)/jvp()/my_sensor_free/add", "other (forward)", "forward"),
])
def test_component_and_pass(op_name, component, pass_):
  assert op_profile.component_of(op_name, op_profile.RAM_COMPONENTS) == component
  assert op_profile.pass_of(op_name) == pass_


def test_breakdown_fractions():
  names = {"dot.1": "jit(f)/jvp()/CoreNetwork/dot_general",
           "dot.2": "jit(f)/transpose(jvp())/CoreNetwork/transpose",
           "gather": "jit(f)/jvp()/sensor/gather", "add": "jit(f)/add"}
  us = collections.Counter({"dot.1": 300, "dot.2": 500, "gather": 150, "add": 50})
  out = op_profile.breakdown(us, names, steps=10, components=op_profile.RAM_COMPONENTS, top=2)
  assert out["op_seconds_per_step"] == pytest.approx(1000 / 10 / 1e6)
  assert out["by_component"] == pytest.approx(
      {"CoreNetwork": 0.8, "sensor": 0.15, "other (update)": 0.05})
  assert out["by_pass"] == pytest.approx({"forward": 0.45, "backward": 0.5, "update": 0.05})
  assert [o["hlo"] for o in out["top_ops"]] == ["dot.2", "dot.1"]
  with pytest.raises(ValueError, match="no events"):
    op_profile.breakdown(collections.Counter(), names, 1, op_profile.RAM_COMPONENTS)


def test_profile_traces_a_jitted_step():
  step = jax.jit(_step)
  state = {"w": _args()[0]}
  x = _args()[1]

  def run():
    for _ in range(3):
      state["w"] = step(state["w"], x)
    jax.block_until_ready(state["w"])

  out = op_profile.profile(step, _args(), run, steps=3, components=("first", "second"))
  assert out["op_seconds_per_step"] > 0
  assert {"first", "second"} <= set(out["by_component"])
  assert sum(out["by_component"].values()) == pytest.approx(1.0)
  assert sum(out["by_pass"].values()) == pytest.approx(1.0)


# --- dot_roofline --------------------------------------------------------------------------


def test_dot_census_counts_forward_backward_and_scan_iterations():
  from attn_rl.tools import op_profile as dot_roofline

  def loss(w, xs):
    def body(h, x):
      return jnp.tanh(h @ w["rec"] + x @ w["in"]), None
    h, _ = jax.lax.scan(body, jnp.zeros((4, 16)), xs)
    return jnp.sum(h @ w["out"])

  w = {"rec": jnp.ones((16, 16)), "in": jnp.ones((8, 16)), "out": jnp.ones((16, 3))}
  xs = jnp.ones((5, 4, 8))
  counts = dot_roofline.dot_census(jax.make_jaxpr(jax.grad(loss))(w, xs))
  Dot = dot_roofline.Dot
  plain = (((1,), (0,)), ((), ()))
  # Forward: 5 iterations x 2 dots, plus the output dot.
  assert counts[Dot((4, 16), (16, 16), plain)] == 5
  assert counts[Dot((4, 8), (8, 16), plain)] == 5
  assert counts[Dot((4, 16), (16, 3), plain)] == 1
  # Backward: per iteration, d(rec), d(h) and d(in) (x's cotangent is not needed); the output
  # layer's two.
  assert sum(counts.values()) == 5 * 2 + 1 + 5 * 3 + 2
  assert dot_roofline.dot_flops(Dot((4, 16), (16, 3), plain)) == 2 * 4 * 16 * 3
  batched = Dot((2, 4, 5), (2, 5, 6), (((2,), (1,)), ((0,), (0,))))
  assert dot_roofline.dot_flops(batched) == 2 * 2 * 4 * 6 * 5
  summary = dot_roofline.summarize_dots(
      [{"count_per_step": 3, "seconds_alone": 0.1, "flops": 10.0}], step_seconds=0.6, peak=100.0)
  assert summary["dot_share"] == pytest.approx(0.5)
  assert summary["dots_alone_fraction_of_matmul_peak"] == pytest.approx(1.0)
