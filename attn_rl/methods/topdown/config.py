"""Top-down + bottom-up config: RAM's agent groups plus `topdown` and `bottomup`; the arms.

The paper's settings: Adam 3e-4, batch 128, lambda 0.5, beta1 1, beta2 0.01, sigma 0.15.
"""

from __future__ import annotations

import ml_collections

from attn_rl.core import config as config_lib
from attn_rl.data import config as data_config
from attn_rl.methods.ram import config as ram_config

# Config-variant tokens that pick an ablation arm.
ARMS = ("ram", "topdown", "entropy", "context", "full")


def defaults() -> ml_collections.ConfigDict:
  c = config_lib.base("topdown")
  c.data = data_config.digits()
  c.model = ram_config.model_group()
  # sigma, the location policy's standard deviation.
  c.model.loc_std = 0.15
  # Glimpse network: 'conv' (three conv-norm-pool blocks, the paper) or 'mlp' (RAM's).
  c.model.glimpse_net = "conv"
  # Channels of the three conv blocks ('conv' only); a list, as it reads back from JSON.
  c.model.conv_channels = [32, 64, 64]
  # Epsilon of the conv glimpse network's per-glimpse LayerNorm ('conv' only; flax's default).
  # Faint noise on a blank glimpse is scaled up to unit variance at 1e-6 (docs/robustness.md).
  c.model.glimpse_norm_epsilon = 1e-6
  # beta2, the weight of the (entropy-weighted) REINFORCE term J.
  c.rl = ram_config.rl_group(reinforce_weight=0.01)
  # Adam at the paper's constant 3e-4.
  c.optim = ram_config.optim_group(name="adam", learning_rate=3e-4, schedule="constant")

  c.topdown = ml_collections.ConfigDict()
  # The top-down agent picks the region of l_0 (False: RAM's learned start, no Q-learning).
  c.topdown.enabled = True
  # Pyramid levels; levels - 1 region choices per image.
  c.topdown.levels = 2
  # Each level is cut into grid x grid regions.
  c.topdown.grid = 2
  # Channels of the Q-network's conv layer.
  c.topdown.conv_features = 8
  # Units of each region's feature vector.
  c.topdown.region_features = 64
  # 'epsilon' (epsilon-greedy) or 'softmax' (Boltzmann over Q / temperature).
  c.topdown.exploration = "epsilon"
  # Epsilon at step 0 ('epsilon' only).
  c.topdown.epsilon_start = 0.5
  # Epsilon after the decay ('epsilon' only).
  c.topdown.epsilon_end = 0.05
  # Steps of the linear epsilon decay ('epsilon' only).
  c.topdown.epsilon_decay_steps = 5000
  # Softmax temperature ('softmax' only).
  c.topdown.temperature = 0.1
  # gamma of the TD target between levels (unused with 2 levels: one terminal decision).
  c.topdown.discount = 0.9
  # Target network: 'polyak' (incremental) or 'periodic' (copy).
  c.topdown.target_update = "polyak"
  # Polyak step size tau ('polyak' only).
  c.topdown.target_tau = 0.01
  # Steps between copies ('periodic' only).
  c.topdown.target_period = 200

  c.bottomup = ml_collections.ConfigDict()
  # Entropy constraint: weight REINFORCE terms by H(x_t) + lambda (Eqs. 12-13).
  c.bottomup.entropy = True
  # Binarisation threshold of glimpse pixels (intensities in [0, 1]).
  c.bottomup.entropy_threshold = 0.5
  # lambda, added to each glimpse's entropy.
  c.bottomup.entropy_lambda = 0.5
  # Context constraint: classify C = sum_t alpha_t H_t with f_c (Eq. 11).
  c.bottomup.context = True
  # Hidden units of f_c.
  c.bottomup.context_hidden = 256
  # beta1, the weight of the context classifier's cross-entropy.
  c.bottomup.context_weight = 1.0
  c = config_lib.add_run_groups(c, eval_rollouts=8)
  # --config.train.num_seeds as copies of the one-seed step (core/seeds.py): vmapped, the
  # Q-network's and the glimpse network's convolutions become grouped convolutions, which
  # XLA:CPU runs 2x (60x60) to 4x (100x100) slower per seed (docs/throughput.md,
  # "Top-down"). 'vmap' is the accelerator's way.
  c.train.seeds_mode = "loop"
  return c


def apply_arm(c: ml_collections.ConfigDict, tokens: set[str]) -> None:
  """Switches the three pieces for an ablation arm; no arm token keeps the config's defaults.

  'ram': top-down, entropy and context off (the same code, glimpse network and budget);
  'full': all on; otherwise 'topdown', 'entropy', 'context' switch on the pieces named.
  """
  named = tokens & set(ARMS)
  if not named:
    return
  if len(named) > 1 and named & {"ram", "full"}:
    raise ValueError(f"Config variants {sorted(named)}: 'ram' and 'full' stand alone.")
  on = {"topdown", "entropy", "context"} if "full" in named else named - {"ram"}
  c.topdown.enabled = "topdown" in on
  c.bottomup.entropy = "entropy" in on
  c.bottomup.context = "context" in on


def apply_cpu_recipe(c: ml_collections.ConfigDict) -> None:
  """The 2-core CPU recipe of the cluttered configs' `short`/`cpu` variants: half the conv
  channels (1,264 against 738 img/s for the full 100x100 model on the 2-core CPU) and RAM's
  optimizer (Adam 1e-3, warm-up then cosine decay to 1%) instead of the paper's constant
  3e-4, which a short run needs to settle."""
  c.model.conv_channels = [16, 32, 32]
  c.optim.learning_rate = 1e-3
  c.optim.schedule = "cosine"


def validate(c: ml_collections.ConfigDict) -> None:
  """RAM's checks plus the top-down and bottom-up groups'."""
  ram_config.validate(c)
  config_lib.one_of(c.model.glimpse_net, ("conv", "mlp"), "model.glimpse_net")
  config_lib.one_of(c.topdown.exploration, ("epsilon", "softmax"), "topdown.exploration")
  config_lib.one_of(c.topdown.target_update, ("polyak", "periodic"), "topdown.target_update")
  config_lib.positive(c, "topdown.levels", "topdown.grid", "topdown.conv_features",
                      "topdown.region_features", "topdown.temperature", "topdown.target_period",
                      "topdown.epsilon_decay_steps", "bottomup.context_hidden")
  channels = list(c.model.conv_channels)
  if c.model.glimpse_net == "conv" and not (
      channels and all(isinstance(n, int) and n > 0 for n in channels)):
    raise ValueError(f"model.conv_channels={channels!r} must be a non-empty list of positive ints.")
  if not c.model.glimpse_norm_epsilon > 0:
    raise ValueError(f"model.glimpse_norm_epsilon={c.model.glimpse_norm_epsilon!r} must be > 0: "
                     "the LayerNorm divides by sqrt(variance + epsilon).")
  if c.topdown.levels < 2:
    raise ValueError(f"topdown.levels={c.topdown.levels}: the pyramid needs at least 2 levels.")
  cells = c.topdown.grid ** c.topdown.levels
  if c.data.canvas_size % cells:
    raise ValueError(
        f"data.canvas_size={c.data.canvas_size} is not divisible by topdown.grid**topdown.levels"
        f" = {cells}: every level's regions must be whole pixels; change topdown.levels or grid."
    )
  for key in ("topdown.epsilon_start", "topdown.epsilon_end", "topdown.target_tau",
              "topdown.discount", "bottomup.entropy_threshold"):
    group, name = key.split(".")
    if not 0.0 <= c[group][name] <= 1.0:
      raise ValueError(f"{key}={c[group][name]!r} must be in [0, 1].")
  if c.bottomup.entropy_lambda < 0:
    raise ValueError(f"bottomup.entropy_lambda={c.bottomup.entropy_lambda} must be >= 0.")
