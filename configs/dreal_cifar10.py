"""DREAL on CIFAR-10 (tfds `cifar10`): SE/CBAM/SRM-ResNet-20 (or -56) with and without critics.

Variants (comma-separated): `se` (default), `cbam` or `srm`; `resnet56` (default resnet20);
`vanilla` (no critics); `batchmean` (batch-mean substitution); `quicktest`.

Run (needs cifar10 prepared in ArrayRecord format under $TFDS_DATA_DIR:
`tfds build cifar10 --file_format=array_record`):
  python -m attn_rl.main --config=configs/dreal_cifar10.py:se --workdir=runs/dreal_cifar10_se
Quick check on mock data: --config=configs/dreal_cifar10.py:quicktest --config.data.source=synthetic
Recipe (ours; the DREAL paper reports ImageNet only): SGD momentum 0.9, weight decay 1e-4,
batch 128, 64k steps (He et al.'s iteration count) with cosine decay from 0.1; pad-4 crops
and flips. Expected: not measured on this project's machines (no CIFAR-10 here).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dreal import config as dreal_config

FLAGS = ("resnet56", "vanilla", "batchmean", "quicktest")


def get_config(arg=None):
  attention, words = dreal_config.parse(arg, FLAGS)
  c = dreal_config.defaults()
  # tfds name; images are read with tfds.data_source (attn_rl/data/images.py).
  c.data.dataset = "cifar10"
  # Side of the network's input.
  c.data.image_size = 32
  # Side of the synthetic stand-in images (data.source='synthetic' only).
  c.data.stored_size = 32
  # Training images held out for model selection.
  c.data.num_validation = 5000
  # The CIFAR ResNet preset.
  c.model.arch = "resnet56" if "resnet56" in words else "resnet20"
  # Attention module on every residual branch.
  c.model.attention = attention
  # SE/CBAM reduction (16 at 16-64 channels leaves 1-4 hidden units, as the official code).
  c.model.reduction = 16
  # Per-example mean (default) or batch-mean substitution.
  c.model.mean_mode = "batch" if "batchmean" in words else "example"
  # CIFAR-10 channel means.
  c.model.input_mean = [0.4914, 0.4822, 0.4465]
  # CIFAR-10 channel standard deviations.
  c.model.input_std = [0.2470, 0.2435, 0.2616]
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in words
  # Peak learning rate of backbone and actor.
  c.optim.learning_rate = 0.1
  # Cosine decay, no warmup needed at batch 128.
  c.optim.warmup_steps = 0
  # Global batch.
  c.train.batch_size = 128
  # He et al.'s 64k iterations.
  c.train.num_steps = 64000
  # Validate about every 5.5 epochs.
  c.eval.every_steps = 2000
  # Global evaluation batch.
  c.eval.batch_size = 500
  if "quicktest" in words:
    config_lib.apply_quicktest(c)
    # A tiny custom network instead of the preset.
    c.model.arch = "custom"
    # Two stages of two basic blocks.
    c.model.stage_sizes = [2, 2]
    # Tiny widths.
    c.model.widths = [4, 8]
    # Tiny stem.
    c.model.stem_width = 4
    # Reduction for 4-8 channels.
    c.model.reduction = 2
  c.lock()
  return c
