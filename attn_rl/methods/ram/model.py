"""RAM's model: the glimpse agent (`glimpse/`) with the MLP glimpse network.

Five Linen networks (glimpse, core, location, baseline, action; `glimpse/networks.py`), each a
separately initialised component so that their parameters can live in separate TrainStates,
and the rollout of `glimpse/rollout.py`.
"""

from __future__ import annotations

import jax

from attn_rl.glimpse import networks, rollout

COMPONENTS = rollout.COMPONENTS
RAMOutput = rollout.Rollout


class RAM:
  """The five networks plus the unroll. Pure: `init(key, shape)` and `unroll(params, ...)`."""

  def __init__(self, model_config, num_classes: int):
    c = model_config
    self.agent = rollout.GlimpseAgent(
        networks.make_networks(c, num_classes), num_glimpses=c.num_glimpses,
        glimpse_size=c.glimpse_size, num_scales=c.num_scales, loc_std=c.loc_std,
        sensor=c.sensor, scan_unroll=True if c.unroll else 1)

  @property
  def scan_unroll(self):
    return self.agent.scan_unroll

  def init(self, key: jax.Array, image_shape: tuple[int, ...]) -> dict:
    """Parameters {component: params} for images of shape [H, W] or [H, W, C]."""
    keys = dict(zip(COMPONENTS, jax.random.split(key, len(COMPONENTS)), strict=True))
    return self.agent.init(keys, image_shape)

  def unroll(self, params: dict, images: jax.Array, key: jax.Array, *,
             deterministic: bool = False) -> RAMOutput:
    """One episode of T glimpses per image (`GlimpseAgent.rollout`), time-major;
    `deterministic`: every location is the policy's mean."""
    return self.agent.rollout(params, images, key, deterministic=deterministic)
