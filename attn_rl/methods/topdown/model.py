"""Top-down + bottom-up recurrent attention (Chen et al. 2021, "Where to look"): networks.

Top-down agent (a Q-network over pyramid regions). The image pyramid has `levels` levels;
the observation of level k is the current window, box-downsampled to a side of
S = H / grid**(levels - 1) pixels: level 0 is the whole image at 1 / grid**(levels - 1) of
full resolution (half resolution for the default 2 levels on a 2x2 grid), and the last level
is the finally chosen window at full resolution. At each of the levels - 1 decisions the
observation is cut into grid x grid regions, the Q-network scores them, and the chosen
region becomes the next window (`descend`). The bottom-up agent's first location is drawn
uniformly inside the last window (`sample_in_window`).

  RegionQNetwork   conv(3x3) -> per-region Dense (shared over regions) -> concat -> Q [A]

Bottom-up agent: the glimpse agent of `glimpse/` (RAM's networks and rollout) with the
convolutional glimpse network (`glimpse.networks.ConvGlimpseNetwork`, or RAM's MLP with
model.glimpse_net='mlp'), per-glimpse logits and entropies, and a context classifier:

  context   Z = f_c(C), a two-layer classifier of the context vector C (Eq. 11)
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_rl.glimpse import networks, rollout
from attn_rl.methods.topdown import losses as td_losses

COMPONENTS = ("glimpse", "core", "location", "baseline", "action", "context", "qnet")


class ContextClassifier(nn.Module):
  """f_c: C [B, D] -> logits of Z [B, num_classes], two Dense layers (Eq. 11)."""

  hidden: int = 256
  num_classes: int = 10

  @nn.compact
  def __call__(self, context):
    return nn.Dense(self.num_classes)(nn.relu(nn.Dense(self.hidden)(context)))


class RegionQNetwork(nn.Module):
  """Level observation [B, S, S, C] -> Q-values [B, grid * grid] of its regions (row-major).

  One 3x3 conv over the observation, then the same Dense layer on each region's cell of the
  feature map; the Q head reads the concatenated region features, so the value of a region
  can depend on what the other regions hold.
  """

  grid: int = 2
  conv_features: int = 8
  region_features: int = 64

  @nn.compact
  def __call__(self, obs):
    b, s, _, _ = obs.shape
    n, cell = self.grid, obs.shape[1] // self.grid
    x = nn.relu(nn.Conv(self.conv_features, (3, 3), padding="SAME", name="conv")(obs))
    x = x.reshape(b, n, cell, n, cell, self.conv_features).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, n * n, cell * cell * self.conv_features)
    regions = nn.relu(nn.Dense(self.region_features, name="region")(x))
    return nn.Dense(n * n, name="q")(regions.reshape(b, -1))


def level_observation(images, top_left, window: int, obs_side: int):
  """The window [top, top + window) x [left, left + window) of each image, box-downsampled.

  Args:
    images: [B, H, W, C] float.
    top_left: int32 [B, 2] (row, col) of each window.
    window: the window's side in full-resolution pixels (a multiple of obs_side).
    obs_side: side of the returned observation.

  Returns:
    [B, obs_side, obs_side, C].
  """
  c = images.shape[-1]
  cut = jax.vmap(lambda img, tl: jax.lax.dynamic_slice(img, (tl[0], tl[1], 0), (window, window, c)))
  x = cut(images, top_left)
  f = window // obs_side
  if f > 1:
    x = x.reshape(x.shape[0], obs_side, f, obs_side, f, c).mean((2, 4))
  return x


def child_window(top_left, action, window: int, grid: int):
  """Top-left [B, 2] of region `action` [B] (row-major on a grid x grid split of the window)."""
  cell = window // grid
  offset = jnp.stack([action // grid, action % grid], axis=-1) * cell
  return top_left + offset.astype(top_left.dtype)


def sample_in_window(key, top_left, window: int, image_hw: tuple[int, int]):
  """A location in [-1, 1]^2 whose sensor centre pixel lies inside the window.

  The position is uniform on [top + 1/2, top + window - 1/2] (in pixels, per axis), half a
  pixel away from the window's border, so that `glimpse.centre_pixels` (floor of the scaled
  location) maps it into [top, top + window - 1] despite rounding. `key` is one key, or one per
  example ([B]). Returns float32 [B, 2].
  """
  if key.ndim:
    u = jax.vmap(lambda k: jax.random.uniform(k, top_left.shape[1:]))(key)
  else:
    u = jax.random.uniform(key, top_left.shape)
  pixel = top_left.astype(jnp.float32) + 0.5 + u * (window - 1)
  size = jnp.array(image_hw, jnp.float32)
  return pixel / size * 2.0 - 1.0


def window_centre(top_left, window: int, image_hw: tuple[int, int]):
  """The location [B, 2] at the window's centre: `sample_in_window`'s draw at u = 1/2."""
  pixel = top_left.astype(jnp.float32) + 0.5 + 0.5 * (window - 1)
  return pixel / jnp.array(image_hw, jnp.float32) * 2.0 - 1.0


def choose_regions(key, q, *, exploration: str, epsilon, temperature: float, greedy: bool):
  """Region indices [B] from Q-values [B, A]: greedy, epsilon-greedy or softmax(Q / temp)."""
  best = jnp.argmax(q, axis=-1)
  if greedy:
    return best
  if exploration == "softmax":
    return jax.random.categorical(key, q / temperature, axis=-1)
  coin_key, action_key = jax.random.split(key)
  random = jax.random.randint(action_key, best.shape, 0, q.shape[-1])
  return jnp.where(jax.random.uniform(coin_key, best.shape) < epsilon, random, best)


class Descent(NamedTuple):
  observations: jax.Array  # [L-1, B, S, S, C] the state s_k of each decision
  actions: jax.Array  # [L-1, B] chosen regions
  q_values: jax.Array  # [L-1, B, A] online Q-values the choices were made from
  top_left: jax.Array  # [B, 2] int32 final window (full-resolution pixels)


class TopDownOutput(NamedTuple):
  logits: jax.Array  # [B, C] alpha_T's logits (the prediction)
  context_logits: jax.Array  # [B, C] logits of Z = f_c(C)
  locations: jax.Array  # [T, B, 2] sensed (unclipped) locations l_0 .. l_{T-1}
  log_probs: jax.Array  # [T, B] log pi(l_t); 0 at t = 0 when l_0 is given (not a policy draw)
  baselines: jax.Array  # [T, B] b_t
  entropies: jax.Array  # [T, B] binary entropy of the glimpse read at l_t


class Prediction(NamedTuple):
  logits: jax.Array  # [B, C]
  locations: jax.Array  # [T, B, 2]
  top_left: jax.Array  # [B, 2] chosen window (row, col), -1 when top-down is off
  window: jax.Array  # [] side of the chosen window in pixels


class TopDownModel:
  """Networks, the pyramid descent and the bottom-up unroll; pure functions of params."""

  def __init__(self, config, num_classes: int):
    m, td, bu = config.model, config.topdown, config.bottomup
    self.levels, self.grid = td.levels, td.grid
    self.canvas = config.data.canvas_size
    self.obs_side = self.canvas // td.grid ** (td.levels - 1)
    self.entropy_threshold = bu.entropy_threshold
    # Whether the top-down agent picks l_0's window (else RAM's learned start).
    self.use_topdown = bool(td.enabled)
    nets = networks.make_networks(m, num_classes, glimpse_net=m.glimpse_net)
    # lax.scan's unroll. With the conv glimpse network the whole episode is always unrolled:
    # on the CPU backend the backward pass of convolutions inside a rolled loop ran 6.4x
    # slower than unrolled (885 vs 138 ms for 6 glimpses at batch 128). The MLP glimpse
    # network follows model.unroll, as RAM does.
    self.agent = rollout.GlimpseAgent(
        nets, num_glimpses=m.num_glimpses, glimpse_size=m.glimpse_size,
        num_scales=m.num_scales, loc_std=m.loc_std, sensor=m.sensor,
        scan_unroll=True if m.glimpse_net == "conv" or m.unroll else 1)
    self.nets = {
        **nets,
        "context": ContextClassifier(bu.context_hidden, num_classes),
        "qnet": RegionQNetwork(td.grid, td.conv_features, td.region_features),
    }

  @property
  def scan_unroll(self):
    return self.agent.scan_unroll

  def final_window(self) -> int:
    """Side in pixels of the window the bottom-up agent starts in."""
    return self.canvas // self.grid ** (self.levels - 1)

  def init(self, key: jax.Array, image_shape: tuple[int, ...]) -> dict:
    """Parameters {component: params} for images of shape [H, W] or [H, W, C]."""
    channels = image_shape[2] if len(image_shape) == 3 else 1
    keys = dict(zip(COMPONENTS, jax.random.split(key, len(COMPONENTS)), strict=True))
    h = jnp.zeros((1, self.nets["core"].hidden))
    obs = jnp.zeros((1, self.obs_side, self.obs_side, channels))
    return {
        **self.agent.init(keys, image_shape),
        "context": self.nets["context"].init(keys["context"], h)["params"],
        "qnet": self.nets["qnet"].init(keys["qnet"], obs)["params"],
    }

  def _apply(self, params, name, *args):
    return self.nets[name].apply({"params": params[name]}, *args)

  def q_values(self, qnet_params, obs):
    """[B, S, S, C] -> [B, A] with the given Q-network parameters (online or target)."""
    return self.nets["qnet"].apply({"params": qnet_params}, obs)

  def descend(self, qnet_params, images, key, *, exploration="epsilon", epsilon=0.0,
              temperature=1.0, greedy=False) -> Descent:
    """The top-down agent's levels - 1 region choices, coarse to fine.

    Args:
      qnet_params: online Q-network parameters (choices are discrete: no gradient flows).
      images: [B, H, W, C] float.
      key: exploration key, split into one key per decision.

    Returns:
      Descent.
    """
    batch = images.shape[0]
    top_left = jnp.zeros((batch, 2), jnp.int32)
    window = self.canvas
    obs_k, actions, qs = [], [], []
    for key_k in jax.random.split(key, self.levels - 1):
      obs = level_observation(images, top_left, window, self.obs_side)
      q = self.q_values(qnet_params, obs)
      # The choice is an action of the agent, not a differentiable function of Q.
      action = jax.lax.stop_gradient(choose_regions(
          key_k, q, exploration=exploration, epsilon=epsilon, temperature=temperature,
          greedy=greedy))
      top_left = child_window(top_left, action, window, self.grid)
      window //= self.grid
      obs_k.append(obs)
      actions.append(action)
      qs.append(q)
    return Descent(jnp.stack(obs_k), jnp.stack(actions), jnp.stack(qs), top_left)

  def unroll(self, params: dict, images, key, first_location=None, *,
             deterministic: bool = False) -> TopDownOutput:
    """One bottom-up episode of T glimpses per image (`GlimpseAgent.rollout`), plus Z.

    Args:
      params: {component: params}.
      images: [B, H, W, C], uint8 in [0, 255] or float in [0, 1].
      key: PRNG key of the location noise.
      first_location: [B, 2] l_0 (from the top-down agent), or None for RAM's learned start
        (the policy at the zero core state).
      deterministic: every later location is the policy's mean (no noise drawn).

    Returns:
      TopDownOutput (time-major).
    """
    out = self.agent.rollout(params, with_channels(images), key, first_location, per_step=True,
                             entropy_threshold=self.entropy_threshold,
                             deterministic=deterministic)
    alpha = jax.nn.softmax(out.step_logits, axis=-1)
    context = jax.vmap(td_losses.context_vector, in_axes=(1, 1))(alpha, out.hidden)
    context_logits = self._apply(params, "context", context)
    return TopDownOutput(out.logits, context_logits, out.locations, out.log_probs,
                         out.baselines, out.entropies)


def with_channels(images):
  """[B, H, W] -> [B, H, W, 1]; [B, H, W, C] unchanged."""
  return images[..., None] if images.ndim == 3 else images


def as_float_images(images):
  """uint8 [B, H, W] or [B, H, W, C] -> float32 [B, H, W, C] in [0, 1]."""
  images = with_channels(images)
  if images.dtype == jnp.uint8:
    images = images.astype(jnp.float32) / 255.0
  return images
