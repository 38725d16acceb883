"""The networks of a glimpse agent (Mnih et al. 2014, Sec. 4; Chen et al. 2021, Sec. 3).

  glimpse   g_t from the glimpse rho(x, l) and the location l, two kinds:
            `GlimpseNetwork` (RAM's MLP): g = ReLU(Linear(h_g) + Linear(h_l)),
            h_g = ReLU(Linear(rho)), h_l = ReLU(Linear(l))                      (128/128/256)
            `ConvGlimpseNetwork` (Chen et al.): three conv -> LayerNorm -> ReLU -> 2x2 max-pool
            blocks over the scales stacked as channels, then as above with l
  core      h_t = ReLU(Linear(h_{t-1}) + Linear(g_t)) (256 units), or an LSTM
  location  mean of l_{t+1} = Linear(h_t) (optionally tanh); l ~ N(mean, sigma^2 I)
  baseline  b_t = Linear(h_t), the REINFORCE baseline
  action    class logits from a core state

LayerNorm normalises each example over (height, width, channels): no batch statistics, so
steps stay pure functions and are the same on 1 or 8 devices.

`max_pool_2x2` is `nn.max_pool(x, (2, 2), strides=(2, 2))` written without `reduce_window`:
the same values and gradients, and on XLA:CPU a top-down training step 1.3x to 1.6x faster
(docs/throughput.md, "The conv glimpse network's max-pool").
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def max_pool_2x2(x):
  """[B, H, W, C] -> [B, H // 2, W // 2, C], the max of each 2x2 block (an odd last row or
  column is dropped, as VALID padding does).

  Equal to `nn.max_pool(x, (2, 2), strides=(2, 2))` in value and in gradient: the gradient goes
  to the first maximum of each block in row-major order, the element XLA's select-and-scatter
  (max_pool's backward) picks, so ties (a blank glimpse's constant feature map) are routed
  alike. XLA:CPU runs that select-and-scatter slowly; here the blocks become a trailing axis of
  4 and the maximum is picked by a mask of the (gradient-free) argmax.
  """
  b, h, w, c = x.shape
  hh, ww = h // 2, w // 2
  blocks = x[:, :2 * hh, :2 * ww].reshape(b, hh, 2, ww, 2, c).transpose(0, 1, 3, 5, 2, 4)
  blocks = blocks.reshape(b, hh, ww, c, 4)
  first = jnp.argmax(jax.lax.stop_gradient(blocks), axis=-1, keepdims=True)
  return jnp.sum(jnp.where(first == jnp.arange(4), blocks, 0), axis=-1)


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


class ConvGlimpseNetwork(nn.Module):
  channels: tuple[int, ...] = (32, 64, 64)
  hidden_location: int = 128
  features: int = 256
  # The LayerNorm's epsilon, added to each glimpse's variance (flax's default 1e-6). A blank
  # glimpse's conv output is nearly constant, so a tiny epsilon scales faint noise on it up to
  # unit variance (docs/robustness.md); a larger one leaves such glimpses near zero.
  norm_epsilon: float = 1e-6

  @nn.compact
  def __call__(self, glimpses, locations):
    """glimpses [B, k, g, g, C], locations [B, 2] -> g_t [B, features]."""
    b, k, g, _, c = glimpses.shape
    x = glimpses.transpose(0, 2, 3, 1, 4).reshape(b, g, g, k * c)
    for i, width in enumerate(self.channels):
      x = nn.Conv(width, (3, 3), padding="SAME", name=f"conv{i}")(x)
      x = nn.LayerNorm(epsilon=self.norm_epsilon, reduction_axes=(-3, -2, -1),
                       feature_axes=-1, name=f"norm{i}")(x)
      x = nn.relu(x)
      if x.shape[1] >= 2 and x.shape[2] >= 2:
        x = max_pool_2x2(x)
    what = nn.Dense(self.features, name="what_out")(x.reshape(b, -1))
    h_l = nn.relu(nn.Dense(self.hidden_location, name="where")(locations))
    where = nn.Dense(self.features, use_bias=False, name="where_out")(h_l)
    return nn.relu(what + where)


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


def make_networks(model_config, num_classes: int, glimpse_net: str = "mlp") -> dict:
  """{'glimpse', 'core', 'location', 'baseline', 'action'} from config.model.

  glimpse_net: 'mlp' (`GlimpseNetwork`) or 'conv' (`ConvGlimpseNetwork`, widths from
  `model.conv_channels`, LayerNorm epsilon from `model.glimpse_norm_epsilon`).
  """
  m = model_config
  if glimpse_net == "conv":
    glimpse = ConvGlimpseNetwork(tuple(m.conv_channels), m.location_hidden, m.glimpse_features,
                                 m.glimpse_norm_epsilon)
  else:
    glimpse = GlimpseNetwork(m.glimpse_hidden, m.location_hidden, m.glimpse_features)
  return {
      "glimpse": glimpse,
      "core": CoreNetwork(m.core_hidden, m.core),
      "location": LocationNetwork(m.location_mean),
      "baseline": BaselineNetwork(),
      "action": ActionNetwork(num_classes),
  }
