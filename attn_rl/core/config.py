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
  # Glimpse loop: True unrolls the episode into straight-line code, False keeps a rolled
  # lax.scan. Same numbers either way; unrolled, XLA's CPU runtime can run independent ops of
  # different glimpses side by side, 1.15x to 1.41x faster at batch 128 on the 2-core Xeon
  # (README, "Throughput"). Compile time grows with model.num_glimpses.
  c.model.unroll = True
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
  # Learning rate of the location network (REINFORCE) as a multiple of the schedule above.
  c.optim.location_lr_scale = 1.0

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


def apply_long_tanh(c: ml_collections.ConfigDict, num_steps: int, eval_every_steps: int
                    ) -> ml_collections.ConfigDict:
  """The RAM `long` variants' recipe: a longer schedule with the location mean bounded by tanh.

  A departure from the paper's linear location network, so it is a variant, never a default:
  with the linear mean, longer schedules did worse (README "Results").
  """
  c.train.num_steps = num_steps
  c.eval.every_steps = eval_every_steps
  c.model.location_mean = "tanh"
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
  if not isinstance(c.model.unroll, bool):
    raise ValueError(f"model.unroll={c.model.unroll!r} must be True or False.")
  for key in ("model.num_glimpses", "model.glimpse_size", "model.num_scales",
              "model.core_hidden", "rl.num_rollouts", "eval.num_rollouts", "train.batch_size",
              "train.num_steps", "eval.batch_size", "eval.every_steps", "log.every_steps",
              "ckpt.every_steps", "model.loc_std", "optim.location_lr_scale"):
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


def dreal_defaults() -> ml_collections.ConfigDict:
  """DREAL (attention CNN + recurrent critics) on RAM's data/train/eval/log/ckpt/mesh groups."""
  c = ram_defaults()
  c.method = "dreal"
  # Two eval passes would give the same answer: the network is deterministic.
  c.eval.num_rollouts = 1
  # Sequences are lists, as config.json stores them: a resumed run compares equal.
  c.model = ml_collections.ConfigDict()
  # 'custom' (the fields below) or a preset: resnet20, resnet56, resnet50, resnet101.
  c.model.arch = "custom"
  # Attention module on every residual branch: 'se', 'cbam' or 'srm'.
  c.model.attention = "se"
  # Residual block ('custom' only): 'basic' (two 3x3) or 'bottleneck' (1x1-3x3-1x1, 4x width).
  c.model.block = "basic"
  # Blocks per stage ('custom' only); stages after the first halve the resolution.
  c.model.stage_sizes = [2, 2, 2]
  # Branch widths per stage ('custom' only).
  c.model.widths = [16, 32, 64]
  # Stem ('custom' only): 'cifar' (one 3x3 conv) or 'imagenet' (7x7/2 conv + 3x3/2 max-pool).
  c.model.stem = "cifar"
  # Channels of the stem ('custom' only).
  c.model.stem_width = 16
  # Stride of the 'cifar' stem ('custom' only): 2 halves large canvases at once.
  c.model.stem_stride = 1
  # Channel reduction r of the SE and CBAM MLPs (hidden units C // r, at least 1).
  c.model.reduction = 16
  # Map substituted for the reward: 'example' (a uniform gate at the example's map mean) or
  # 'batch' (the batch-mean map).
  c.model.mean_mode = "example"
  # BatchNorm running-average momentum.
  c.model.bn_momentum = 0.9
  # Per-channel input mean after scaling to [0, 1].
  c.model.input_mean = [0.0]
  # Per-channel input standard deviation after scaling to [0, 1].
  c.model.input_std = [1.0]

  # Natural images (attn_rl/data/images.py): side of the network's input.
  c.data.image_size = 32
  # Natural images: side of the synthetic stand-in images (data.source='synthetic').
  c.data.stored_size = 32

  c.dreal = ml_collections.ConfigDict()
  # Train the attention modules with critics (True) or with cross-entropy alone (vanilla).
  c.dreal.critics = True
  # Reward of a wrong prediction is -gamma.
  c.dreal.gamma = 1.0
  # Into Q's range (-1, 1): 'clip' to [-1, 1] or 'tanh' (attn_rl/rewards.py).
  c.dreal.reward_transform = "clip"
  # Weight of L_q = -Q in the actor's loss.
  c.dreal.q_weight = 1.0
  # Substituted rollouts start at their stage's input (saved by the forward pass), not at the
  # image: same rewards, fewer FLOPs. False: one vmap of full forward passes.
  c.dreal.reuse_prefix = True
  # Which maps of each stage's drawn block are substituted: 'block' (all of them, the paper's;
  # CBAM's channel and spatial maps, two rollouts per stage) or 'map' (one, drawn uniformly;
  # for CBAM half the rollouts, each critic trained every other step on average).
  c.dreal.substitute = "block"

  # DREAL has no location policy.
  del c.optim["location_lr_scale"]
  # Backbone and actor optimizer (each its own instance): SGD with RAM's momentum 0.9.
  c.optim.name = "sgd"
  # Peak learning rate of backbone and actor.
  c.optim.learning_rate = 0.1
  # Cosine decay after a linear warmup.
  c.optim.schedule = "cosine"
  # Warmup steps.
  c.optim.warmup_steps = 200
  # L2 weight decay on conv and dense kernels (not BN, biases or SRM's cfc).
  c.optim.weight_decay = 1e-4
  # 'piecewise' schedule: the rate is divided by 10 every this many steps.
  c.optim.decay_every_steps = 0
  # No gradient clipping for backbone and actor (the ResNet recipes do not clip).
  c.optim.grad_clip_norm = 0.0
  c.optim.critic = ml_collections.ConfigDict()
  # Critic optimizer: 'adam' or 'sgd'.
  c.optim.critic.name = "adam"
  # Critic peak learning rate.
  c.optim.critic.learning_rate = 1e-3
  # Critic schedule: 'constant', 'cosine', 'exponential' or 'piecewise'.
  c.optim.critic.schedule = "constant"
  # Critic warmup steps ('cosine' only).
  c.optim.critic.warmup_steps = 0
  # Critic final learning rate fraction ('cosine', 'exponential').
  c.optim.critic.final_lr_fraction = 0.01
  # Critic SGD momentum ('sgd' only).
  c.optim.critic.momentum = 0.9
  # Critic 'piecewise' decay period.
  c.optim.critic.decay_every_steps = 0
  # Critic global-norm gradient clipping (0 disables).
  c.optim.critic.grad_clip_norm = 1.0
  return c


def validate_dreal(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid DREAL config."""
  # Imported here: config files load config_lib, and should not pay for flax and PIL.
  from attn_rl import rewards
  from attn_rl.data import images
  from attn_rl.models import attention, resnet
  from attn_rl.steps import dreal as dreal_steps

  _one_of(c.data.source, ("tfds", "synthetic"), "data.source")
  _one_of(c.data.task, canvas.TASKS, "data.task")
  _one_of(c.model.arch, ("custom", *resnet.ARCHS), "model.arch")
  _one_of(c.model.attention, attention.KINDS, "model.attention")
  _one_of(c.model.mean_mode, attention.MEAN_MODES, "model.mean_mode")
  _one_of(c.model.block, ("basic", "bottleneck"), "model.block")
  _one_of(c.model.stem, ("cifar", "imagenet"), "model.stem")
  _one_of(c.dreal.reward_transform, rewards.TRANSFORMS, "dreal.reward_transform")
  _one_of(c.dreal.substitute, dreal_steps.SUBSTITUTE, "dreal.substitute")
  _one_of(c.optim.schedule, ("constant", "cosine", "exponential", "piecewise"), "optim.schedule")
  if len(c.model.stage_sizes) != len(c.model.widths):
    raise ValueError(f"model.stage_sizes={c.model.stage_sizes} and model.widths="
                     f"{c.model.widths} must have one entry per stage.")
  for key in ("model.reduction", "model.stem_width", "model.stem_stride", "train.batch_size",
              "train.num_steps", "eval.batch_size", "eval.every_steps", "log.every_steps",
              "ckpt.every_steps", "optim.learning_rate", "dreal.gamma"):
    group, name = key.split(".")
    _positive(c[group][name], key)
  if c.data.dataset in images.DATASETS:
    _positive(c.data.image_size, "data.image_size")
    if c.data.source == "synthetic" and c.data.stored_size < c.data.image_size:
      raise ValueError(f"data.stored_size={c.data.stored_size} is smaller than data.image_size="
                       f"{c.data.image_size}.")
    if len(c.model.input_mean) != 3 or len(c.model.input_std) != 3:
      raise ValueError("RGB images need 3 values in model.input_mean and model.input_std.")
  for opt, key in ((c.optim, "optim"), (c.optim.critic, "optim.critic")):
    if opt.schedule == "piecewise" and not opt.decay_every_steps:
      raise ValueError(f"{key}.schedule='piecewise' needs {key}.decay_every_steps > 0.")


def topdown_defaults() -> ml_collections.ConfigDict:
  """Top-down + bottom-up attention (Chen et al. 2021): RAM's groups plus `topdown`, `bottomup`.

  The paper's settings: Adam 3e-4, batch 128, lambda 0.5, beta1 1, beta2 0.01, sigma 0.15.
  """
  c = ram_defaults()
  c.method = "topdown"
  # Glimpse network: 'conv' (three conv-norm-pool blocks, the paper) or 'mlp' (RAM's).
  c.model.glimpse_net = "conv"
  # Channels of the three conv blocks ('conv' only); a list, as it reads back from JSON.
  c.model.conv_channels = [32, 64, 64]
  # sigma, the location policy's standard deviation.
  c.model.loc_std = 0.15
  # beta2, the weight of the (entropy-weighted) REINFORCE term J.
  c.rl.reinforce_weight = 0.01
  # Adam as in the paper.
  c.optim.name = "adam"
  # Paper learning rate.
  c.optim.learning_rate = 3e-4
  # A constant rate, as in the paper.
  c.optim.schedule = "constant"

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
  return c


# Config-variant tokens that pick an ablation arm of the top-down method.
TOPDOWN_ARMS = ("ram", "topdown", "entropy", "context", "full")


def parse_variants(arg: str | None, known: tuple[str, ...]) -> set[str]:
  """Comma-separated variant tokens (e.g. 'topdown,entropy,quicktest') -> a set."""
  tokens = {t for t in (arg or "").split(",") if t}
  unknown = sorted(tokens - set(known))
  if unknown:
    raise ValueError(f"Unknown config variant {', '.join(map(repr, unknown))}; known variants: "
                     f"{', '.join(known)} (combine them with commas).")
  return tokens


DREAL_ATTENTION = ("se", "cbam", "srm")


def dreal_variant(arg: str | None, flags: tuple[str, ...]) -> tuple[str, set[str]]:
  """'cbam,vanilla' -> ('cbam', {'vanilla'}): at most one attention module (default 'se')."""
  words = parse_variants(arg, (*DREAL_ATTENTION, *flags))
  attention = sorted(words & set(DREAL_ATTENTION))
  if len(attention) > 1:
    raise ValueError(f"Config variant {arg!r} names {' and '.join(attention)}: pick one "
                     f"attention module of {', '.join(DREAL_ATTENTION)}.")
  return (attention or ["se"])[0], words - set(DREAL_ATTENTION)


def apply_topdown_arm(c: ml_collections.ConfigDict, tokens: set[str]) -> None:
  """Switches the three pieces for an ablation arm; no arm token keeps the config's defaults.

  'ram': top-down, entropy and context off (the same code, glimpse network and budget);
  'full': all on; otherwise 'topdown', 'entropy', 'context' switch on the pieces named.
  """
  named = tokens & set(TOPDOWN_ARMS)
  if not named:
    return
  if len(named) > 1 and named & {"ram", "full"}:
    raise ValueError(f"Config variants {sorted(named)}: 'ram' and 'full' stand alone.")
  on = {"topdown", "entropy", "context"} if "full" in named else named - {"ram"}
  c.topdown.enabled = "topdown" in on
  c.bottomup.entropy = "entropy" in on
  c.bottomup.context = "context" in on


def validate_topdown(c: ml_collections.ConfigDict) -> None:
  """RAM's checks plus the top-down and bottom-up groups'."""
  validate_ram(c)
  _one_of(c.model.glimpse_net, ("conv", "mlp"), "model.glimpse_net")
  _one_of(c.topdown.exploration, ("epsilon", "softmax"), "topdown.exploration")
  _one_of(c.topdown.target_update, ("polyak", "periodic"), "topdown.target_update")
  for key in ("topdown.levels", "topdown.grid", "topdown.conv_features",
              "topdown.region_features", "topdown.temperature", "topdown.target_period",
              "topdown.epsilon_decay_steps", "bottomup.context_hidden"):
    group, name = key.split(".")
    _positive(c[group][name], key)
  channels = list(c.model.conv_channels)
  if c.model.glimpse_net == "conv" and not (
      channels and all(isinstance(n, int) and n > 0 for n in channels)):
    raise ValueError(f"model.conv_channels={channels!r} must be a non-empty list of positive ints.")
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


def defaults(method: str) -> ml_collections.ConfigDict:
  """The default config of a method (the keys every config of that method has)."""
  makers = {"ram": ram_defaults, "topdown": topdown_defaults, "dreal": dreal_defaults}
  if method not in makers:
    raise ValueError(f"method={method!r} is not one of {', '.join(makers)}.")
  return makers[method]()
