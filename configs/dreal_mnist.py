"""DREAL on 28x28 MNIST, and the plain ResNet beside it: the attention and CNN rows of the
robustness comparison (docs/robustness.md), next to RAM's and the bottom-up agent's 28x28 runs.

Variants (comma-separated, any order): the attention module `se` (default), `cbam`, `srm` or
`none` (a plain ResNet: the CNN control; needs `vanilla`); `vanilla` trains with cross-entropy
alone (no critics); `quicktest` shrinks the run to seconds.

Run (the CNN, then SE-ResNet with critics):
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/dreal_mnist.py:none,vanilla --workdir=runs/cnn_mnist
  ... --config=configs/dreal_mnist.py:se --workdir=runs/dreal_mnist_se
Quick check (seconds): --config=configs/dreal_mnist.py:none,vanilla,quicktest
Expected: see docs/robustness.md (clean and attacked error of each run, with its command).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dreal import config as dreal_config

FLAGS = ("vanilla", "quicktest")


def get_config(arg=None):
  attention, flags = dreal_config.parse(arg, FLAGS)
  c = dreal_config.defaults()
  # The undistorted 28x28 digit.
  c.data.task = "plain"
  # Image side.
  c.data.canvas_size = 28
  # Attention module on every residual branch ('none': a plain ResNet).
  c.model.attention = attention
  # CIFAR-style basic blocks, three stages of two.
  c.model.block = "basic"
  # Blocks per stage.
  c.model.stage_sizes = [2, 2, 2]
  # Widths per stage.
  c.model.widths = [16, 32, 64]
  # Stem channels.
  c.model.stem_width = 16
  # A stride-2 stem: 28 -> 14, then 7 and 4 in the later stages.
  c.model.stem_stride = 2
  # SE/CBAM reduction: r=4 keeps 4 hidden units at 16 channels.
  c.model.reduction = 4
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in flags
  # SGD with momentum, cosine decay after a short warmup.
  c.optim.learning_rate = 0.1
  # Warmup steps.
  c.optim.warmup_steps = 100
  # Weight decay on kernels.
  c.optim.weight_decay = 1e-4
  # Global batch.
  c.train.batch_size = 128
  # Training steps (about 7.7 epochs of the 50,000 training digits).
  c.train.num_steps = 3000
  # Validate every this many steps.
  c.eval.every_steps = 500
  # Checkpoints as often as validation.
  c.ckpt.every_steps = 500
  if "quicktest" in flags:
    config_lib.apply_quicktest(c)
    # A tiny network: two stages of two blocks.
    c.model.stage_sizes = [2, 2]
    # Widths of the tiny network.
    c.model.widths = [4, 8]
    # Stem of the tiny network.
    c.model.stem_width = 4
  c.lock()
  return c
