"""Recurrent attention model (Mnih et al., "Recurrent Models of Visual Attention", 2014).

Five Linen networks, each a separately initialised component so that their parameters can
live in separate TrainStates:

  glimpse   g_t = ReLU(Linear(h_g) + Linear(h_l)), h_g = ReLU(Linear(rho(x, l))),
            h_l = ReLU(Linear(l))                                        (Sec. 4, 128/128/256)
  core      h_t = ReLU(Linear(h_{t-1}) + Linear(g_t)) (256 units), or an LSTM
  location  mean of l_{t+1} = Linear(h_t) (optionally tanh); l ~ N(mean, sigma^2 I)
  baseline  b_t = Linear(h_t), the REINFORCE baseline
  action    class logits from the last core state

`unroll` is the pure forward pass: a `lax.scan` over glimpses, fully unrolled unless
config `model.unroll` is False. The first location is drawn from the location policy at the
zero core state (a learned start distribution). Two gradient cuts route the hybrid loss
(Sec. 3.2): sampled locations are `stop_gradient` before the sensor, and the location and
baseline networks read `stop_gradient(h)`, so REINFORCE trains only the location network and
the baseline's squared error only the baseline.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_rl import distributions
from attn_rl.models import glimpse as glimpse_lib

COMPONENTS = ("glimpse", "core", "location", "baseline", "action")


class GlimpseNetwork(nn.Module):
  hidden_glimpse: int = 128
  hidden_location: int = 128
  features: int = 256

  @nn.compact
  def __call__(self, glimpses, locations):
    """glimpses [B, k, g, g, C], locations [B, 2] -> g_t [B, features]."""
    flat = glimpses.reshape(glimpses.shape[0], -1)
    h_g = nn.relu(nn.Dense(self.hidden_glimpse, name="what")(flat))
    h_l = nn.relu(nn.Dense(self.hidden_location, name="where")(locations))
    return nn.relu(nn.Dense(self.features, name="what_out")(h_g) +
                   nn.Dense(self.features, use_bias=False, name="where_out")(h_l))


class CoreNetwork(nn.Module):
  """carry, g_t -> (carry, h_t). 'rnn': the paper's rectifier RNN; 'lstm': an LSTM."""

  hidden: int = 256
  kind: str = "rnn"

  @nn.compact
  def __call__(self, carry, g):
    if self.kind == "lstm":
      return nn.OptimizedLSTMCell(self.hidden, name="lstm")(carry, g)
    h = nn.relu(nn.Dense(self.hidden, name="input")(g) +
                nn.Dense(self.hidden, use_bias=False, name="recurrent")(carry))
    return h, h

  def initial_carry(self, batch: int):
    zeros = jnp.zeros((batch, self.hidden))
    return (zeros, zeros) if self.kind == "lstm" else zeros


class LocationNetwork(nn.Module):
  """h [B, H] -> mean of the next location [B, 2]."""

  mean_activation: str = "linear"

  @nn.compact
  def __call__(self, h):
    mean = nn.Dense(2)(h)
    return jnp.tanh(mean) if self.mean_activation == "tanh" else mean


class BaselineNetwork(nn.Module):
  @nn.compact
  def __call__(self, h):
    """h [B, H] -> b [B]."""
    return nn.Dense(1)(h)[:, 0]


class ActionNetwork(nn.Module):
  num_classes: int = 10

  @nn.compact
  def __call__(self, h):
    """h [B, H] -> logits [B, num_classes]."""
    return nn.Dense(self.num_classes)(h)


class RAMOutput(NamedTuple):
  logits: jax.Array  # [B, C] from the last core state
  locations: jax.Array  # [T, B, 2] sampled (unclipped) locations, l_0 .. l_{T-1}
  means: jax.Array  # [T, B, 2] policy means
  log_probs: jax.Array  # [T, B] log pi(l_t | h_{t-1}); gradient reaches `location` only
  baselines: jax.Array  # [T, B] b_t(h_{t-1}); gradient reaches `baseline` only


class RAM:
  """The five networks plus the unroll. Pure: `init(key, shape)` and `unroll(params, ...)`."""

  def __init__(self, model_config, num_classes: int):
    c = model_config
    self.num_glimpses = c.num_glimpses
    self.glimpse_size, self.num_scales = c.glimpse_size, c.num_scales
    self.loc_std = c.loc_std
    # 'patch' (cut and box-average) or 'table' (integral images); equal outputs.
    self.sensor = c.sensor
    # lax.scan's unroll: True (config model.unroll, the default) unrolls the whole episode,
    # 1 keeps the loop. Unrolled, XLA's CPU runtime can run independent ops of different
    # glimpses side by side on its threads (README, "Throughput"); a loop runs one iteration
    # at a time. XLA's cost analysis
    # counts a loop body once, so the benchmark counts FLOPs on an unrolled copy.
    self.scan_unroll = True if c.unroll else 1
    self.nets = {
        "glimpse": GlimpseNetwork(c.glimpse_hidden, c.location_hidden, c.glimpse_features),
        "core": CoreNetwork(c.core_hidden, c.core),
        "location": LocationNetwork(c.location_mean),
        "baseline": BaselineNetwork(),
        "action": ActionNetwork(num_classes),
    }

  def init(self, key: jax.Array, image_shape: tuple[int, ...]) -> dict:
    """Parameters {component: params} for images of shape [H, W] or [H, W, C]."""
    channels = image_shape[2] if len(image_shape) == 3 else 1
    g = self.glimpse_size
    keys = dict(zip(COMPONENTS, jax.random.split(key, len(COMPONENTS)), strict=True))
    core = self.nets["core"]
    h = jnp.zeros((1, core.hidden))
    return {
        "glimpse": self.nets["glimpse"].init(
            keys["glimpse"], jnp.zeros((1, self.num_scales, g, g, channels)), jnp.zeros((1, 2))
        )["params"],
        "core": core.init(
            keys["core"], core.initial_carry(1), jnp.zeros((1, self.nets["glimpse"].features))
        )["params"],
        "location": self.nets["location"].init(keys["location"], h)["params"],
        "baseline": self.nets["baseline"].init(keys["baseline"], h)["params"],
        "action": self.nets["action"].init(keys["action"], h)["params"],
    }

  def _apply(self, params, name, *args):
    return self.nets[name].apply({"params": params[name]}, *args)

  def unroll(self, params: dict, images: jax.Array, key: jax.Array) -> RAMOutput:
    """One episode of T glimpses per image.

    Args:
      params: {component: params}.
      images: [B, H, W] or [B, H, W, C], uint8 in [0, 255] or float in [0, 1].
      key: PRNG key for the location noise.

    Returns:
      RAMOutput (time-major).
    """
    if images.ndim == 3:
      images = images[..., None]
    batch = images.shape[0]
    with jax.named_scope("sensor"):  # Names the sensor's ops in profiles (attn_rl/op_profile.py).
      sensor = glimpse_lib.make_sensor(
          images, sensor=self.sensor, glimpse_size=self.glimpse_size, num_scales=self.num_scales)
    noise = jax.random.normal(key, (self.num_glimpses, batch, 2))
    core = self.nets["core"]

    def step(carry, eps):
      core_state, h = carry
      # Only the location and baseline networks read h here, and neither may train the core.
      h_fixed = jax.lax.stop_gradient(h)
      mean = self._apply(params, "location", h_fixed)
      # The sample is an action, not a differentiable function of the policy: cut it.
      loc = jax.lax.stop_gradient(mean + self.loc_std * eps)
      log_prob = distributions.gaussian_log_prob(loc, mean, self.loc_std)
      baseline = self._apply(params, "baseline", h_fixed)
      loc_in = jnp.clip(loc, -1.0, 1.0)
      with jax.named_scope("sensor"):
        rho = sensor(loc_in)
      g = self._apply(params, "glimpse", rho, loc_in)
      core_state, h = core.apply({"params": params["core"]}, core_state, g)
      return (core_state, h), (loc, mean, log_prob, baseline)

    init = (core.initial_carry(batch), jnp.zeros((batch, core.hidden)))
    (_, h_last), (locs, means, log_probs, baselines) = jax.lax.scan(
        step, init, noise, unroll=self.scan_unroll
    )
    logits = self._apply(params, "action", h_last)
    return RAMOutput(logits, locs, means, log_probs, baselines)
