"""DRAM's model (Ba, Mnih, Kavukcuoglu, "Multiple Object Recognition with Visual Attention",
ICLR 2015, Sec. 3), as a pure unroll over Linen networks.

  glimpse    g_n = G_image(x_n) * G_loc(l_n): three conv layers (5x5, 3x3, 3x3; 64, 64, 128
             filters, ReLU) over the glimpse's scales stacked as channels, then a fully
             connected ReLU layer; G_loc = ReLU(Linear(l_n)); combined by elementwise product
  lower      r1_n = LSTM(r1_{n-1}, g_n), 512 units: feeds the classifier
  upper      r2_n = LSTM(r2_{n-1}, r1_n), 512 units: feeds the emission and the baseline
  context    r2_0 from the whole image down-sampled to `context_size`: three conv layers
             (ReLU, 2x2 max-pool), then linear maps to the LSTM's (c, h) (h through tanh);
             it initialises the upper LSTM only, so l_1 = emission(context) is chosen from a
             coarse look at the whole image
  emission   mean of l_{n+1} = Linear(r2_n); l ~ N(mean, sigma^2 I)
             (`policy='scan'`, a control: l_n on a fixed left-to-right raster, no noise,
             log pi = 0 so REINFORCE is zero; see `scan_locations`)
  classify   label logits (10 digits and END; MNIST addition: 19 sums) from r1 after every
             k-th glimpse
  baseline   b_n = Linear(stop_gradient(r2_{n-1})), the REINFORCE baseline of l_n

Gradient routing, as RAM's (tested term by term in tests/dram_test.py): sampled locations are
`stop_gradient` before the sensor and the glimpse network, and the upper LSTM reads
`stop_gradient(r1)`, so the cross-entropy trains glimpse, lower and classify (and the
unified model's context classifier), and REINFORCE trains only the emission pathway (emission,
upper LSTM, context network). Departure: DRAM's paper backpropagates its REINFORCE term into
every parameter that shapes the location distribution; here, as in RAM, the classifier's
representation is shaped by the cross-entropy alone. The baseline reads a cut r2.

Unified model ("Where to look", Chen et al. 2021, on sequences): per glimpse the binary
entropy of what it read (`glimpse/sensor.py`, for the entropy-weighted REINFORCE), and per
label s a context vector C_s = sum over its k glimpses of max_c alpha_{t,c} r1_t
(`methods/topdown/losses.context_vector`) classified by f_c (the top-down method's
`ContextClassifier`).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_rl.data import sequences
from attn_rl.glimpse import networks
from attn_rl.glimpse import sensor as sensor_lib
from attn_rl.methods.topdown import losses as td_losses
from attn_rl.methods.topdown.model import ContextClassifier
from attn_rl.rl import distributions


class GlimpseNetwork(nn.Module):
  channels: tuple[int, ...] = (64, 64, 128)
  kernels: tuple[int, ...] = (5, 3, 3)
  features: int = 512

  @nn.compact
  def __call__(self, glimpses, locations):
    """glimpses [B, k, g, g, C], locations [B, 2] -> g_n [B, features]."""
    b, k, g, _, c = glimpses.shape
    x = glimpses.transpose(0, 2, 3, 1, 4).reshape(b, g, g, k * c)
    for i, (width, kernel) in enumerate(zip(self.channels, self.kernels, strict=True)):
      x = nn.relu(nn.Conv(width, (kernel, kernel), padding="SAME", name=f"conv{i}")(x))
    what = nn.relu(nn.Dense(self.features, name="what")(x.reshape(b, -1)))
    where = nn.relu(nn.Dense(self.features, name="where")(locations))
    return what * where


class ContextNetwork(nn.Module):
  channels: tuple[int, ...] = (16, 32, 64)
  hidden: int = 512

  @nn.compact
  def __call__(self, coarse):
    """coarse [B, s, s, C] -> the upper LSTM's initial (c, h), each [B, hidden]."""
    x = coarse
    for i, width in enumerate(self.channels):
      x = nn.relu(nn.Conv(width, (3, 3), padding="SAME", name=f"conv{i}")(x))
      x = networks.max_pool_2x2(x)
    x = x.reshape(x.shape[0], -1)
    return nn.Dense(self.hidden, name="cell")(x), jnp.tanh(nn.Dense(self.hidden, name="h")(x))


class Classifier(nn.Module):
  num_classes: int = 11
  hidden: int = 0

  @nn.compact
  def __call__(self, h):
    if self.hidden:
      h = nn.relu(nn.Dense(self.hidden, name="hidden")(h))
    return nn.Dense(self.num_classes, name="out")(h)


class LSTM(nn.Module):
  hidden: int = 512

  @nn.compact
  def __call__(self, carry, x):
    return nn.OptimizedLSTMCell(self.hidden, name="lstm")(carry, x)


class Output(NamedTuple):
  logits: jax.Array  # [S, B, C] at the emission glimpses
  locations: jax.Array  # [N, B, 2] sensed (unclipped) locations
  log_probs: jax.Array  # [N, B] log pi(l_n); gradient reaches the emission pathway only
  baselines: jax.Array  # [N, B] b_n; gradient reaches the baseline only
  entropies: jax.Array | None = None  # [N, B] binary entropy of each glimpse (unified.entropy)
  context_logits: jax.Array | None = None  # [S, B, C] of f_c(C_s) (unified.context)


def with_channels(images):
  return images[..., None] if images.ndim == 3 else images


def scan_locations(num_glimpses: int, extent: float = 0.8) -> jax.Array:
  """[N, 2] (y, x): the 'scan' control's raster, x from -extent to extent in equal steps on the
  middle row, the same for every image (digit rows are centred in the crops)."""
  x = jnp.linspace(-extent, extent, num_glimpses)
  return jnp.stack([jnp.zeros_like(x), x], -1)


class DRAM:
  """The networks and the episode; pure functions of {component: params}."""

  def __init__(self, config, num_classes: int):
    m, u = config.model, config.unified
    self.k = m.glimpses_per_label
    self.positions = sequences.sequence_length(config.data)
    # Pairs and addition have no END label: every position is scored.
    self.fixed = sequences.fixed_length(config.data)
    self.num_glimpses = self.k * self.positions
    self.glimpse_size, self.num_scales, self.loc_std = m.glimpse_size, m.num_scales, m.loc_std
    self.sensor, self.context_size = m.sensor, m.context_size
    self.use_context, self.entropy, self.constraint = m.context, u.entropy, u.context
    self.entropy_threshold = u.entropy_threshold
    self.scan = m.policy == "scan"
    self.scan_unroll = True if m.unroll else 1
    self.nets = {
        "glimpse": GlimpseNetwork(tuple(m.conv_channels), tuple(m.conv_kernels),
                                  m.glimpse_features),
        "lower": LSTM(m.lstm_hidden),
        "classify": Classifier(num_classes, m.classifier_hidden),
        "upper": LSTM(m.lstm_hidden),
        "emission": networks.LocationNetwork(m.location_mean),
        "baseline": networks.BaselineNetwork(),
    }
    if self.use_context:
      self.nets["context"] = ContextNetwork(tuple(m.context_channels), m.lstm_hidden)
    if self.constraint:
      self.nets["context_classifier"] = ContextClassifier(u.context_hidden, num_classes)
    self.hidden = m.lstm_hidden

  def init(self, key: jax.Array, image_shape: tuple[int, ...]) -> dict:
    """{component: params} for images of shape [H, W] or [H, W, C]."""
    channels = image_shape[2] if len(image_shape) == 3 else 1
    g, h = self.glimpse_size, self.hidden
    carry = (jnp.zeros((1, h)), jnp.zeros((1, h)))
    args = {
        "glimpse": (jnp.zeros((1, self.num_scales, g, g, channels)), jnp.zeros((1, 2))),
        "lower": (carry, jnp.zeros((1, self.nets["glimpse"].features))),
        "classify": (jnp.zeros((1, h)),),
        "upper": (carry, jnp.zeros((1, h))),
        "emission": (jnp.zeros((1, h)),),
        "baseline": (jnp.zeros((1, h)),),
        "context": (jnp.zeros((1, self.context_size, self.context_size, channels)),),
        "context_classifier": (jnp.zeros((1, h)),),
    }
    keys = jax.random.split(key, len(self.nets))
    return {name: net.init(k, *args[name])["params"]
            for (name, net), k in zip(sorted(self.nets.items()), keys, strict=True)}

  def apply(self, params, name, *args):
    return self.nets[name].apply({"params": params[name]}, *args)

  def coarse(self, images: jax.Array) -> jax.Array:
    """The context network's input: float images down-sampled to context_size (antialiased)."""
    b, _, _, c = images.shape
    s = self.context_size
    return jax.image.resize(images, (b, s, s, c), method="linear", antialias=True)

  def unroll(self, params: dict, images: jax.Array, key: jax.Array, *,
             deterministic: bool = False) -> Output:
    """One episode of N = k x S glimpses per image, emitting a label every k glimpses.

    Args:
      params: {component: params}.
      images: [B, H, W] or [B, H, W, C], uint8 in [0, 255] or float in [0, 1].
      key: PRNG key of the location noise: one for the batch, or one per episode ([B]).
      deterministic: every location is the emission network's mean (no noise drawn).
    """
    images = with_channels(images)
    if images.dtype == jnp.uint8:
      images = images.astype(jnp.float32) / 255.0
    batch, n = images.shape[0], self.num_glimpses
    with jax.named_scope("sensor"):
      sensor = sensor_lib.make_sensor(images, sensor=self.sensor, glimpse_size=self.glimpse_size,
                                      num_scales=self.num_scales)
    if deterministic or self.scan:
      noise = jnp.zeros((n, batch, 2))
    elif key.ndim:  # One key per episode.
      noise = jax.vmap(lambda k: jax.random.normal(k, (n, 2)))(key).transpose(1, 0, 2)
    else:
      noise = jax.random.normal(key, (n, batch, 2))
    zeros = jnp.zeros((batch, self.hidden))
    upper0 = self.apply(params, "context", self.coarse(images)) if self.use_context else (
        zeros, zeros)

    def step(carry, xs):
      (lower, upper), (eps, raster) = carry, xs
      r2 = upper[1]
      mean = self.apply(params, "emission", r2)
      if self.scan:
        loc = jnp.broadcast_to(raster, (batch, 2))
        log_prob = jnp.zeros((batch,))
      else:
        # The sample is an action, not a differentiable function of the policy: cut it.
        loc = jax.lax.stop_gradient(mean + self.loc_std * eps)
        log_prob = distributions.gaussian_log_prob(loc, mean, self.loc_std)
      # The baseline's squared error must train the baseline alone.
      baseline = self.apply(params, "baseline", jax.lax.stop_gradient(r2))
      loc_in = jnp.clip(loc, -1.0, 1.0)
      with jax.named_scope("sensor"):
        rho = sensor(loc_in)
      g = self.apply(params, "glimpse", rho, loc_in)
      lower, r1 = self.apply(params, "lower", lower, g)
      # The upper LSTM is the location policy's: REINFORCE must not reach the classifier's
      # pathway through it, nor the cross-entropy the policy's.
      upper, _ = self.apply(params, "upper", upper, jax.lax.stop_gradient(r1))
      out = {"loc": loc, "log_prob": log_prob, "baseline": baseline, "r1": r1}
      if self.entropy:
        out["entropy"] = jax.vmap(
            lambda x: sensor_lib.binary_patch_entropy(x, self.entropy_threshold))(rho)
      return (lower, upper), out

    init = ((zeros, zeros), upper0)
    _, out = jax.lax.scan(step, init, (noise, scan_locations(n)), unroll=self.scan_unroll)
    r1 = out["r1"]  # [N, B, D]
    emitted = r1[self.k - 1::self.k]  # [S, B, D] after every k-th glimpse.
    logits = self.apply(params, "classify", emitted)
    context_logits = None
    if self.constraint:
      # alpha_t: the classifier's distribution after every glimpse; C_s over label s's glimpses.
      alpha = jax.nn.softmax(self.apply(params, "classify", r1), -1)
      blocks = lambda x: x.reshape(self.positions, self.k, *x.shape[1:])
      context = jax.vmap(jax.vmap(td_losses.context_vector, in_axes=(1, 1)))(
          blocks(alpha), blocks(r1))  # [S, B, D]
      context_logits = self.apply(params, "context_classifier", context)
    return Output(logits, out["loc"], out["log_prob"], out["baseline"], out.get("entropy"),
                  context_logits)


def predictions(logits_sbc: jax.Array) -> jax.Array:
  """int32 [B, S]: the argmax label at every position (greedy decoding)."""
  return jnp.argmax(logits_sbc, -1).T.astype(jnp.int32)

