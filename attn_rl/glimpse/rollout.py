"""The one glimpse rollout, used by RAM and by the top-down agent's bottom-up half.

One episode of T glimpses per image: l_t ~ N(location(h_{t-1}), sigma^2 I), the sensor reads
rho(x, clip(l_t)), g_t = glimpse(rho, l_t), h_t = core(h_{t-1}, g_t); the class logits come
from the last core state. The first location is drawn from the location policy at the zero
core state (a learned start distribution), unless `first_location` gives l_0 (the top-down
agent's pick), which then carries no REINFORCE term.

Two gradient cuts route the hybrid loss (Mnih et al. 2014, Sec. 3.2): sampled locations are
`stop_gradient` before the sensor, and the location and baseline networks read
`stop_gradient(h)`, so REINFORCE trains only the location network and the baseline's squared
error only the baseline.

The loop is a `lax.scan`, fully unrolled when `scan_unroll` is True: XLA's CPU runtime can then
run independent ops of different glimpses side by side on its threads (docs/throughput.md); a
rolled loop runs one iteration at a time. XLA's cost analysis counts a loop body once, so the
benchmark counts FLOPs on an unrolled copy.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from attn_rl.glimpse import sensor as sensor_lib
from attn_rl.rl import distributions

COMPONENTS = ("glimpse", "core", "location", "baseline", "action")


class Rollout(NamedTuple):
  logits: jax.Array  # [B, C] from the last core state
  locations: jax.Array  # [T, B, 2] sensed (unclipped) locations, l_0 .. l_{T-1}
  log_probs: jax.Array  # [T, B] log pi(l_t | h_{t-1}); gradient reaches `location` only
  baselines: jax.Array  # [T, B] b_t(h_{t-1}); gradient reaches `baseline` only
  step_logits: jax.Array | None = None  # [T, B, C] after every glimpse (per_step)
  hidden: jax.Array | None = None  # [T, B, D] core states h_1 .. h_T (per_step)
  entropies: jax.Array | None = None  # [T, B] binary entropy of each glimpse (entropy_threshold)


def example_keys(key: jax.Array, index: jax.Array, num_rollouts: int) -> jax.Array:
  """Keys [B * M] of M rollouts per example, from each example's index in its split.

  Evaluation draws with these, so an example's score depends on (key, index, rollout) only:
  not on the batch it falls in, the batch size or the number of devices. Rollouts are
  example-major, as `jnp.repeat(images, M, axis=0)` lays them out.
  """
  per_example = jax.vmap(lambda i: jax.random.fold_in(key, i))(index)
  return jax.vmap(lambda k: jax.vmap(lambda m: jax.random.fold_in(k, m))(
      jnp.arange(num_rollouts)))(per_example).reshape(-1)


class GlimpseAgent:
  """Networks {component: Linen module} plus the episode; pure functions of their params."""

  def __init__(self, nets: dict, *, num_glimpses: int, glimpse_size: int, num_scales: int,
               loc_std: float, sensor: str = "patch", scan_unroll: bool | int = True):
    self.nets = nets
    self.num_glimpses, self.glimpse_size, self.num_scales = num_glimpses, glimpse_size, num_scales
    self.loc_std = loc_std
    # 'patch' (cut and box-average) or 'table' (integral images); equal outputs.
    self.sensor = sensor
    # lax.scan's unroll: True unrolls the whole episode, 1 keeps the loop.
    self.scan_unroll = scan_unroll

  def init(self, keys: dict, image_shape: tuple[int, ...]) -> dict:
    """{component: params} of the five networks, each from its own key in `keys`."""
    channels = image_shape[2] if len(image_shape) == 3 else 1
    g, core = self.glimpse_size, self.nets["core"]
    h = jnp.zeros((1, core.hidden))
    args = {
        "glimpse": (jnp.zeros((1, self.num_scales, g, g, channels)), jnp.zeros((1, 2))),
        "core": (core.initial_carry(1), jnp.zeros((1, self.nets["glimpse"].features))),
        "location": (h,), "baseline": (h,), "action": (h,),
    }
    return {name: self.nets[name].init(keys[name], *args[name])["params"]
            for name in COMPONENTS}

  def apply(self, params: dict, name: str, *args):
    return self.nets[name].apply({"params": params[name]}, *args)

  def rollout(self, params: dict, images: jax.Array, key: jax.Array, first_location=None, *,
              per_step: bool = False, entropy_threshold: float | None = None,
              deterministic: bool = False) -> Rollout:
    """One episode of T glimpses per image.

    Args:
      params: {component: params} (extra entries are ignored).
      images: [B, H, W] or [B, H, W, C], uint8 in [0, 255] or float in [0, 1].
      key: PRNG key of the location noise: one for the batch, or one per episode ([B], as
        `example_keys` makes them).
      first_location: [B, 2] l_0, or None for the learned start (the policy at h = 0).
      per_step: also return the logits after every glimpse and the core states.
      entropy_threshold: if set, also return each glimpse's binary entropy at this threshold
        (`sensor.binary_patch_entropy`, Chen et al. 2021 Eq. 12).
      deterministic: the deterministic policy: every l_t is the policy's mean (no noise is
        drawn; `key` is unused).

    Returns:
      Rollout (time-major).
    """
    if images.ndim == 3:
      images = images[..., None]
    batch = images.shape[0]
    with jax.named_scope("sensor"):  # Names the sensor's ops in profiles (tools/op_profile.py).
      sensor = sensor_lib.make_sensor(
          images, sensor=self.sensor, glimpse_size=self.glimpse_size, num_scales=self.num_scales)
    if deterministic:
      noise = jnp.zeros((self.num_glimpses, batch, 2))
    elif key.ndim:  # One key per episode.
      noise = jax.vmap(lambda k: jax.random.normal(k, (self.num_glimpses, 2)))(key)
      noise = noise.transpose(1, 0, 2)
    else:
      noise = jax.random.normal(key, (self.num_glimpses, batch, 2))
    core = self.nets["core"]
    given = first_location is not None
    if given:
      # l_0 is the top-down agent's draw, a constant input of the bottom-up episode.
      first_location = jax.lax.stop_gradient(first_location)

    def step(carry, xs):
      core_state, h = carry
      eps, t = xs
      # Only the location and baseline networks read h here, and neither may train the core.
      h_fixed = jax.lax.stop_gradient(h)
      mean = self.apply(params, "location", h_fixed)
      # The sample is an action, not a differentiable function of the policy: cut it.
      loc = jax.lax.stop_gradient(mean + self.loc_std * eps)
      log_prob = distributions.gaussian_log_prob(loc, mean, self.loc_std)
      if given:
        loc = jnp.where(t == 0, first_location, loc)
        # l_0 was not drawn from the policy: no REINFORCE term for it.
        log_prob = jnp.where(t == 0, 0.0, log_prob)
      baseline = self.apply(params, "baseline", h_fixed)
      loc_in = jnp.clip(loc, -1.0, 1.0)
      with jax.named_scope("sensor"):
        rho = sensor(loc_in)
      extra = {}
      if entropy_threshold is not None:
        extra["entropies"] = jax.vmap(
            lambda x: sensor_lib.binary_patch_entropy(x, entropy_threshold))(rho)
      g = self.apply(params, "glimpse", rho, loc_in)
      core_state, h = core.apply({"params": params["core"]}, core_state, g)
      if per_step:
        extra["step_logits"] = self.apply(params, "action", h)
        extra["hidden"] = h
      return (core_state, h), ((loc, log_prob, baseline), extra)

    init = (core.initial_carry(batch), jnp.zeros((batch, core.hidden)))
    steps = jnp.arange(self.num_glimpses)
    (_, h_last), ((locs, log_probs, baselines), extra) = jax.lax.scan(
        step, init, (noise, steps), unroll=self.scan_unroll)
    if per_step:
      logits = extra["step_logits"][-1]
    else:
      logits = self.apply(params, "action", h_last)
    return Rollout(logits, locs, log_probs, baselines, **extra)
