"""RAM's config: its defaults, composed from the core's groups, the `long` recipe and checks.

The `model`, `rl` and `optim` groups are also the starting point of the top-down method's
bottom-up agent (`methods/topdown/config.py`), which calls the group builders below.
"""

from __future__ import annotations

import ml_collections

from attn_rl.core import config as config_lib
from attn_rl.data import config as data_config


def model_group() -> ml_collections.ConfigDict:
  """The glimpse agent: sensor, networks and location policy (Mnih et al. 2014, Sec. 4)."""
  m = ml_collections.ConfigDict()
  # Glimpses per episode (T).
  m.num_glimpses = 6
  # Side g of every glimpse patch, in pixels.
  m.glimpse_size = 8
  # Patches per glimpse, each twice the side of the previous.
  m.num_scales = 1
  # Glimpse sensor: 'patch' (cut the largest patch, box-average) or 'table' (integral
  # images). Same glimpses; 'patch' was faster on CPU (glimpse/sensor.py).
  m.sensor = "patch"
  # Glimpse loop: True unrolls the episode into straight-line code, False keeps a rolled
  # lax.scan. Same numbers either way; unrolled, XLA's CPU runtime can run independent ops of
  # different glimpses side by side, 1.15x to 1.41x faster at batch 128 on the 2-core Xeon
  # (docs/throughput.md). Compile time grows with model.num_glimpses.
  m.unroll = True
  # Units of h_g (what) in the glimpse network.
  m.glimpse_hidden = 128
  # Units of h_l (where) in the glimpse network.
  m.location_hidden = 128
  # Units of the glimpse feature g_t.
  m.glimpse_features = 256
  # Core network: 'rnn' (the paper's rectifier RNN) or 'lstm'.
  m.core = "rnn"
  # Units of the core state h_t.
  m.core_hidden = 256
  # Fixed standard deviation of the Gaussian location policy.
  m.loc_std = 0.1
  # Location mean activation: 'linear' (the paper) or 'tanh'.
  m.location_mean = "linear"
  return m


def rl_group(*, reinforce_weight: float = 1.0) -> ml_collections.ConfigDict:
  r = ml_collections.ConfigDict()
  # Monte-Carlo rollouts per training image (M).
  r.num_rollouts = 1
  # Weight of the REINFORCE term of the hybrid loss.
  r.reinforce_weight = reinforce_weight
  # Weight of the baseline's squared error.
  r.baseline_weight = 1.0
  return r


def optim_group(**kw) -> ml_collections.ConfigDict:
  """The core optimiser group plus the location network's learning-rate scale."""
  o = config_lib.optimizer(**kw)
  # Learning rate of the location network (REINFORCE) as a multiple of the schedule above.
  o.location_lr_scale = 1.0
  return o


def defaults() -> ml_collections.ConfigDict:
  c = config_lib.base("ram")
  c.data = data_config.digits()
  c.model = model_group()
  c.rl = rl_group()
  c.optim = optim_group()
  return config_lib.add_run_groups(c, eval_rollouts=8)


def apply_long_tanh(c: ml_collections.ConfigDict, num_steps: int, eval_every_steps: int
                    ) -> ml_collections.ConfigDict:
  """The RAM `long` variants' recipe: a longer schedule with the location mean bounded by tanh.

  A departure from the paper's linear location network, so it is a variant, never a default:
  with the linear mean, longer schedules did worse (docs/results.md).
  """
  c.train.num_steps = num_steps
  c.eval.every_steps = eval_every_steps
  c.model.location_mean = "tanh"
  return c


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid RAM config."""
  data_config.validate(c)
  config_lib.one_of(c.model.core, ("rnn", "lstm"), "model.core")
  config_lib.one_of(c.model.sensor, ("table", "patch"), "model.sensor")
  config_lib.one_of(c.model.location_mean, ("linear", "tanh"), "model.location_mean")
  if not isinstance(c.model.unroll, bool):
    raise ValueError(f"model.unroll={c.model.unroll!r} must be True or False.")
  config_lib.positive(c, "model.num_glimpses", "model.glimpse_size", "model.num_scales",
                      "model.core_hidden", "rl.num_rollouts", "model.loc_std",
                      "optim.location_lr_scale")
  config_lib.validate_optimizer(c)
  config_lib.validate_run_groups(c)
  largest = c.model.glimpse_size * 2 ** (c.model.num_scales - 1)
  if largest > 2 * c.data.canvas_size:
    raise ValueError(
        f"The largest glimpse ({c.model.glimpse_size} * 2**{c.model.num_scales - 1} = {largest} "
        f"px) is over twice the {c.data.canvas_size}px image: lower model.num_scales."
    )
