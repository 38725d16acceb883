"""DREAL's config: an attention ResNet with critics on the core's data/optim/run groups.

Composed, not derived from RAM: DREAL has no glimpses, no location policy and no `rl` group,
and its network is deterministic (no `eval.num_rollouts`).
"""

from __future__ import annotations

import ml_collections

from attn_rl.core import config as config_lib
from attn_rl.data import config as data_config

# Attention modules, one of which a config variant may name (default 'se'); 'none' is the
# plain ResNet, trainable only without critics.
ATTENTION = ("se", "cbam", "srm", "none")
# Keys that DREAL configs carried from RAM's defaults before the redesign, never read.
RETIRED_KEYS = ("rl.num_rollouts", "rl.reinforce_weight", "rl.baseline_weight",
                "eval.num_rollouts")


def defaults() -> ml_collections.ConfigDict:
  c = config_lib.base("dreal")
  c.data = data_config.digits(natural_images=True)
  # Sequences are lists, as config.json stores them: a resumed run compares equal.
  c.model = ml_collections.ConfigDict()
  # 'custom' (the fields below) or a preset: resnet20, resnet56, resnet50, resnet101.
  c.model.arch = "custom"
  # Attention module on every residual branch: 'se', 'cbam', 'srm' or 'none' (a plain ResNet).
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

  c.dreal = ml_collections.ConfigDict()
  # Train the attention modules with critics (True) or with cross-entropy alone (vanilla).
  c.dreal.critics = True
  # Reward of a wrong prediction is -gamma.
  c.dreal.gamma = 1.0
  # Into Q's range (-1, 1): 'clip' to [-1, 1] or 'tanh' (methods/dreal/rewards.py).
  c.dreal.reward_transform = "clip"
  # Weight of L_q = -Q in the actor's loss.
  c.dreal.q_weight = 1.0
  # Substituted rollouts start at the drawn block's attention module (from what the forward
  # pass saved), not at the image: same rewards, fewer FLOPs. False: one vmap of full forward
  # passes.
  c.dreal.reuse_prefix = True
  # Which maps of each stage's drawn block are substituted: 'block' (all of them, the paper's;
  # CBAM's channel and spatial maps, two rollouts per stage) or 'map' (one, drawn uniformly;
  # for CBAM half the rollouts, each critic trained every other step on average).
  c.dreal.substitute = "block"
  # Steps before L_q reaches the actor (the critics train from step 0): a critic warm-up, not
  # the paper's (0: the actor climbs -Q from the first step, as the paper).
  c.dreal.actor_delay_steps = 0
  # Steps between draws of the substituted blocks: 1 draws anew each step (ours); the paper
  # bypasses "one building block in each stage" per training epoch (steps per epoch).
  c.dreal.redraw_every_steps = 1
  # Units of each critic LSTM's state: 1 is the paper's scalar state (Q = h); more is a marked
  # variant with a tanh read-out (methods/dreal/critics.py).
  c.dreal.critic_hidden = 1

  # Backbone and actor optimizer (each its own instance): SGD with momentum 0.9, no gradient
  # clipping (the ResNet recipes do not clip).
  c.optim = config_lib.optimizer(name="sgd", learning_rate=0.1, schedule="cosine",
                                 warmup_steps=200, grad_clip_norm=0.0)
  # L2 weight decay on conv and dense kernels (not BN, biases or SRM's cfc).
  c.optim.weight_decay = 1e-4
  # 'piecewise' schedule: the rate is divided by 10 every this many steps.
  c.optim.decay_every_steps = 0
  # Critic optimizer: Adam at a constant 1e-3, clipped at global norm 1.
  c.optim.critic = config_lib.optimizer(name="adam", learning_rate=1e-3, schedule="constant",
                                        warmup_steps=0, grad_clip_norm=1.0)
  # Critic 'piecewise' decay period.
  c.optim.critic.decay_every_steps = 0
  c = config_lib.add_run_groups(c)
  # Several seeds in one process (train.num_seeds) step as a loop, not a vmap: vmap over seeds
  # gives every convolution per-seed kernels, a grouped convolution, and the vmapped DREAL-SE
  # step ran at 0.2x of separate runs on XLA:CPU (benchmarks/seeds_dreal_one_core_cpu.json).
  c.train.seeds_mode = "loop"
  return c


def parse(arg: str | None, flags: tuple[str, ...], default: str = "se") -> tuple[str, set[str]]:
  """'cbam,vanilla' -> ('cbam', {'vanilla'}): at most one attention module (else `default`)."""
  words = config_lib.parse_variants(arg, (*ATTENTION, *flags), exclusive=(ATTENTION,))
  attention = [a for a in ATTENTION if a in words]
  return (attention or [default])[0], words - set(ATTENTION)


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid DREAL config."""
  data_config.validate(c)
  validate_network(c)
  if c.data.dataset in data_config.IMAGE_DATASETS and (
      len(c.model.input_mean) != 3 or len(c.model.input_std) != 3):
    raise ValueError("RGB images need 3 values in model.input_mean and model.input_std.")


def validate_network(c: ml_collections.ConfigDict) -> None:
  """The model, dreal, optim and run groups (what methods built on DREAL share)."""
  # Imported here: config files load this module, and should not pay for flax.
  from attn_rl.backbones import attention, resnet
  from attn_rl.methods.dreal import rewards, steps

  config_lib.one_of(c.model.arch, ("custom", *resnet.ARCHS), "model.arch")
  config_lib.one_of(c.model.attention, attention.KINDS, "model.attention")
  config_lib.one_of(c.model.mean_mode, attention.MEAN_MODES, "model.mean_mode")
  config_lib.one_of(c.model.block, ("basic", "bottleneck"), "model.block")
  config_lib.one_of(c.model.stem, ("cifar", "imagenet"), "model.stem")
  config_lib.one_of(c.dreal.reward_transform, rewards.TRANSFORMS, "dreal.reward_transform")
  config_lib.one_of(c.dreal.substitute, steps.SUBSTITUTE, "dreal.substitute")
  if c.model.attention == "none" and c.dreal.critics:
    raise ValueError("model.attention='none' (a plain ResNet) has no attention maps for "
                     "critics to judge: set dreal.critics=False (the config's 'vanilla' "
                     "variant) or name an attention module.")
  if len(c.model.stage_sizes) != len(c.model.widths):
    raise ValueError(f"model.stage_sizes={c.model.stage_sizes} and model.widths="
                     f"{c.model.widths} must have one entry per stage.")
  config_lib.positive(c, "model.reduction", "model.stem_width", "model.stem_stride",
                      "dreal.gamma", "dreal.redraw_every_steps", "dreal.critic_hidden")
  if c.dreal.actor_delay_steps < 0:
    raise ValueError(f"dreal.actor_delay_steps={c.dreal.actor_delay_steps} must be >= 0.")
  config_lib.validate_optimizer(c, "optim")
  config_lib.validate_optimizer(c, "optim.critic")
  config_lib.validate_run_groups(c)
