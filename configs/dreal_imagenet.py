"""DREAL on ImageNet (tfds `imagenet2012`, manual download): SE/CBAM/SRM-ResNet-50/101.

Variants (comma-separated): `se` (default), `cbam` or `srm`; `resnet101` (default resnet50);
`vanilla` (no critics); `batchmean` (batch-mean substitution); `quicktest` (a tiny bottleneck
network on 32x32 mock images: run it with --config.data.source=synthetic).

The paper's recipe: SGD momentum 0.9, weight decay 1e-4, batch 256, 100 epochs, learning rate
0.1 divided by 10 every 30 epochs, random-resized 224 crops with flips, 256-resize centre-crop
evaluation. Epochs count the 1,271,167 training images left after carving 10,000 for
validation (4,965 steps of 256). Test = tfds `validation` (the usual ImageNet val numbers).

Run on a TPU pod slice (every host runs the same command; see launch/README.md):
  TFDS_DATA_DIR=gs://<bucket>/tensorflow_datasets ATTN_RL_DISTRIBUTED=1 \
    python -m attn_rl.main --config=configs/dreal_imagenet.py:se --workdir=<dir>
Expected: not measured here (no ImageNet, no TPU on this project's machines).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dreal import config as dreal_config

FLAGS = ("resnet101", "vanilla", "batchmean", "quicktest")
STEPS_PER_EPOCH = 4965


def get_config(arg=None):
  attention, words = dreal_config.parse(arg, FLAGS)
  c = dreal_config.defaults()
  # tfds name; the manual download must be prepared in ArrayRecord format.
  c.data.dataset = "imagenet2012"
  # Side of the training crops and of the centre crop at evaluation.
  c.data.image_size = 224
  # Side of the synthetic stand-in images (data.source='synthetic' only).
  c.data.stored_size = 256
  # Training images held out for model selection.
  c.data.num_validation = 10000
  # Batches decoded ahead of the device step.
  c.data.prefetch = 8
  # The ImageNet ResNet preset.
  c.model.arch = "resnet101" if "resnet101" in words else "resnet50"
  # Attention module on every residual branch.
  c.model.attention = attention
  # SE/CBAM reduction, as in the official code.
  c.model.reduction = 16
  # Per-example mean (default) or batch-mean substitution.
  c.model.mean_mode = "batch" if "batchmean" in words else "example"
  # ImageNet channel means.
  c.model.input_mean = [0.485, 0.456, 0.406]
  # ImageNet channel standard deviations.
  c.model.input_std = [0.229, 0.224, 0.225]
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in words
  # SGD with momentum 0.9 (the default of dreal_defaults).
  c.optim.name = "sgd"
  # Peak learning rate.
  c.optim.learning_rate = 0.1
  # Divided by 10 every 30 epochs.
  c.optim.schedule = "piecewise"
  # 30 epochs.
  c.optim.decay_every_steps = 30 * STEPS_PER_EPOCH
  # L2 weight decay on kernels (not BN, biases or SRM).
  c.optim.weight_decay = 1e-4
  # Global batch.
  c.train.batch_size = 256
  # 100 epochs.
  c.train.num_steps = 100 * STEPS_PER_EPOCH
  # Validate once per epoch.
  c.eval.every_steps = STEPS_PER_EPOCH
  # Global evaluation batch.
  c.eval.batch_size = 256
  # Attention pictures per evaluation.
  c.eval.num_pictures = 2
  # Log every this many steps.
  c.log.every_steps = 200
  # Checkpoint every this many steps.
  c.ckpt.every_steps = 2000
  if "quicktest" in words:
    config_lib.apply_quicktest(c)
    # 32x32 crops of 40x40 mock images.
    c.data.image_size, c.data.stored_size = 32, 40
    # A tiny bottleneck network with the ImageNet stem.
    c.model.arch = "custom"
    # Bottleneck blocks, as ResNet-50.
    c.model.block = "bottleneck"
    # The 7x7/2 stem and 3x3/2 max-pool.
    c.model.stem = "imagenet"
    # Two stages of two blocks.
    c.model.stage_sizes = [2, 2]
    # Tiny widths (x4 at the block outputs).
    c.model.widths = [4, 8]
    # Tiny stem.
    c.model.stem_width = 8
    # Learning rate for 6 steps.
    c.optim.schedule = "constant"
  c.lock()
  return c
