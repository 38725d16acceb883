"""Config helpers: RAM defaults, the `:quicktest` shrink, and validation with clear errors.

Config files in configs/ start from `ram_defaults()` and override what their task needs.
"""

from __future__ import annotations

import ml_collections

from attn_rl.data import canvas


def ram_defaults() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Registry key of the method (attn_rl/methods.py).
  c.method = "ram"
  # Base seed: parameters, locations and training data order derive from it.
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  # 'tfds' reads a prepared tfds dataset; 'synthetic' makes learnable fake digits (tests).
  c.data.source = "tfds"
  # tfds dataset name.
  c.data.dataset = "mnist"
  # tfds data dir; None means $TFDS_DATA_DIR, then ~/tensorflow_datasets.
  c.data.tfds_data_dir = None
  # 'plain' (28x28), 'translated' or 'cluttered'.
  c.data.task = "plain"
  # Side of the square canvas of 'translated' and 'cluttered'.
  c.data.canvas_size = 28
  # Clutter pieces per image ('cluttered' only).
  c.data.num_clutter = 0
  # Side of each clutter piece.
  c.data.clutter_size = 8
  # Training images held out as the validation split (model selection).
  c.data.num_validation = 10000
  # If set, use only the first N training images (quick runs).
  c.data.limit_train = None
  # If set, use only the first N validation and test images (quick runs).
  c.data.limit_eval = None
  # Batches prepared ahead of the device step.
  c.data.prefetch = 4

  c.model = ml_collections.ConfigDict()
  # Glimpses per episode (T).
  c.model.num_glimpses = 6
  # Side g of every glimpse patch, in pixels.
  c.model.glimpse_size = 8
  # Patches per glimpse, each twice the side of the previous.
  c.model.num_scales = 1
  # Glimpse sensor: 'patch' (cut the largest patch, box-average) or 'table' (integral
  # images). Same glimpses; 'patch' was faster on CPU (models/glimpse.py).
  c.model.sensor = "patch"
  # Units of h_g (what) in the glimpse network.
  c.model.glimpse_hidden = 128
  # Units of h_l (where) in the glimpse network.
  c.model.location_hidden = 128
  # Units of the glimpse feature g_t.
  c.model.glimpse_features = 256
  # Core network: 'rnn' (the paper's rectifier RNN) or 'lstm'.
  c.model.core = "rnn"
  # Units of the core state h_t.
  c.model.core_hidden = 256
  # Fixed standard deviation of the Gaussian location policy.
  c.model.loc_std = 0.1
  # Location mean activation: 'linear' (the paper) or 'tanh'.
  c.model.location_mean = "linear"

  c.rl = ml_collections.ConfigDict()
  # Monte-Carlo rollouts per training image (M).
  c.rl.num_rollouts = 1
  # Weight of the REINFORCE term of the hybrid loss.
  c.rl.reinforce_weight = 1.0
  # Weight of the baseline's squared error.
  c.rl.baseline_weight = 1.0

  c.optim = ml_collections.ConfigDict()
  # 'adam' or 'sgd'; each component gets its own optimizer instance.
  c.optim.name = "adam"
  # Peak learning rate.
  c.optim.learning_rate = 1e-3
  # 'constant', 'cosine' (with warmup) or 'exponential'.
  c.optim.schedule = "cosine"
  # Linear warmup steps ('cosine' only).
  c.optim.warmup_steps = 200
  # Learning rate at the last step as a fraction of the peak.
  c.optim.final_lr_fraction = 0.01
  # SGD momentum ('sgd' only).
  c.optim.momentum = 0.9
  # Global-norm gradient clipping per component (0 disables).
  c.optim.grad_clip_norm = 5.0

  c.train = ml_collections.ConfigDict()
  # Global batch size (images; each has rl.num_rollouts rollouts).
  c.train.batch_size = 128
  # Training steps.
  c.train.num_steps = 10000

  c.eval = ml_collections.ConfigDict()
  # Validate every this many steps (and at the end).
  c.eval.every_steps = 1000
  # Global evaluation batch size.
  c.eval.batch_size = 500
  # Rollouts per evaluation image; class probabilities are averaged over them.
  c.eval.num_rollouts = 8
  # Glimpse pictures of validation images written at each evaluation.
  c.eval.num_pictures = 4

  c.log = ml_collections.ConfigDict()
  # Log training metrics every this many steps.
  c.log.every_steps = 100

  c.ckpt = ml_collections.ConfigDict()
  # Save a checkpoint every this many steps (and on exit).
  c.ckpt.every_steps = 1000
  # Latest checkpoints kept.
  c.ckpt.max_to_keep = 2

  c.mesh = ml_collections.ConfigDict()
  # Devices on the 'data' axis; -1 uses all.
  c.mesh.data = -1
  return c


def apply_quicktest(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a few seconds of CPU: tiny data, few steps, frequent everything."""
  c.data.limit_train = 512
  c.data.limit_eval = 64
  c.train.batch_size = 16
  c.train.num_steps = 6
  c.optim.warmup_steps = 1
  c.eval.every_steps = 3
  c.eval.batch_size = 32
  c.eval.num_rollouts = 2
  c.eval.num_pictures = 1
  c.log.every_steps = 2
  c.ckpt.every_steps = 2
  return c


def parse_arg(arg: str | None, known: tuple[str, ...] = ("quicktest",)) -> str | None:
  if arg not in (None, "", *known):
    raise ValueError(f"Unknown config variant {arg!r}; known variants: {', '.join(known)}.")
  return arg or None


def _one_of(value, allowed, key):
  if value not in allowed:
    raise ValueError(f"{key}={value!r} is not one of {', '.join(map(repr, allowed))}.")


def _positive(value, key):
  if not (isinstance(value, int | float) and value > 0):
    raise ValueError(f"{key}={value!r} must be a positive number.")


def validate_ram(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid RAM config."""
  _one_of(c.data.source, ("tfds", "synthetic"), "data.source")
  _one_of(c.data.task, canvas.TASKS, "data.task")
  _one_of(c.model.core, ("rnn", "lstm"), "model.core")
  _one_of(c.model.sensor, ("table", "patch"), "model.sensor")
  _one_of(c.model.location_mean, ("linear", "tanh"), "model.location_mean")
  for key in ("model.num_glimpses", "model.glimpse_size", "model.num_scales",
              "model.core_hidden", "rl.num_rollouts", "eval.num_rollouts", "train.batch_size",
              "train.num_steps", "eval.batch_size", "eval.every_steps", "log.every_steps",
              "ckpt.every_steps", "model.loc_std"):
    group, name = key.split(".")
    _positive(c[group][name], key)
  if c.data.task == "plain" and c.data.canvas_size != 28:
    raise ValueError("data.task='plain' uses the 28x28 digit: set data.canvas_size=28.")
  if c.data.task != "plain" and c.data.canvas_size < 28:
    raise ValueError(f"data.canvas_size={c.data.canvas_size} is smaller than a 28x28 digit.")
  if c.data.task == "cluttered" and not 0 < c.data.clutter_size <= 28:
    raise ValueError(f"data.clutter_size={c.data.clutter_size} must be in [1, 28].")
  if c.data.task == "cluttered" and c.data.num_clutter < 1:
    raise ValueError("data.task='cluttered' needs data.num_clutter >= 1.")
  largest = c.model.glimpse_size * 2 ** (c.model.num_scales - 1)
  if largest > 2 * c.data.canvas_size:
    raise ValueError(
        f"The largest glimpse ({c.model.glimpse_size} * 2**{c.model.num_scales - 1} = {largest} "
        f"px) is over twice the {c.data.canvas_size}px image: lower model.num_scales."
    )
