"""DREAL on 60x60 cluttered MNIST (4 pieces of 8x8 clutter): a small SE/CBAM/SRM-ResNet.

Variants (comma-separated, any order): the attention module `se` (default), `cbam`, `srm` or
`none` (the plain ResNet, the CNN control; needs `vanilla`);
`vanilla` trains the same network with cross-entropy alone (no critics); `batchmean`
substitutes the batch-mean map instead of the per-example mean; `onemap` substitutes one map
of each drawn block (CBAM: channel or spatial, not both; `dreal.substitute='map'`); `short`
is the budget that fits the issue's 18-run table on a 2-core CPU (half the widths, 1,000
steps); `quicktest` shrinks the run to seconds.

Run (one per variant, e.g. SE with and without critics):
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/dreal_clutter.py:se --workdir=runs/dreal_clutter_se
  ... --config=configs/dreal_clutter.py:se,vanilla --workdir=runs/dreal_clutter_se_vanilla
Quick check (seconds): --config=configs/dreal_clutter.py:cbam,quicktest
The reward uses 'clip'. Measured at the `short` budget (3 seeds, 2026-11-21, one run per core
of the 2-vCPU CPU; docs/results.md): test error vanilla / critics SE 3.26% / 3.55% (6 / 8 min
per run), CBAM 3.56% / 4.16% (11 / 20 min), SRM 3.27% / 3.34% (6 / 7 min). The full budget is
not measured (1 to 2.5 h per run on this CPU).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dreal import config as dreal_config

FLAGS = ("vanilla", "batchmean", "onemap", "short", "quicktest")


def get_config(arg=None):
  attention, flags = dreal_config.parse(arg, FLAGS)
  c = dreal_config.defaults()
  # Translated digit plus random crops of other digits.
  c.data.task = "cluttered"
  # Canvas side.
  c.data.canvas_size = 60
  # Clutter pieces, as in RAM's 60x60 task.
  c.data.num_clutter = 4
  # Side of each clutter piece.
  c.data.clutter_size = 8
  # Attention module on every residual branch.
  c.model.attention = attention
  # CIFAR-style basic blocks, three stages of two.
  c.model.block = "basic"
  # Blocks per stage.
  c.model.stage_sizes = [2, 2, 2]
  # Widths per stage.
  c.model.widths = [16, 32, 64]
  # Stem channels.
  c.model.stem_width = 16
  # A stride-2 stem: 60 -> 30, then 15 and 8 in the later stages.
  c.model.stem_stride = 2
  # SE/CBAM reduction: r=4 keeps 4 hidden units at 16 channels.
  c.model.reduction = 4
  # Per-example mean (default) or batch-mean substitution.
  c.model.mean_mode = "batch" if "batchmean" in flags else "example"
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in flags
  # Every map of the drawn block (the paper's), or one map of it.
  c.dreal.substitute = "map" if "onemap" in flags else "block"
  # SGD with momentum, cosine decay after a short warmup.
  c.optim.learning_rate = 0.1
  # Weight decay on kernels.
  c.optim.weight_decay = 1e-4
  # Global batch.
  c.train.batch_size = 128
  # Training steps (about 23 epochs of the 50,000 training digits).
  c.train.num_steps = 9000
  # Validate every this many steps.
  c.eval.every_steps = 1000
  if "short" in flags:
    # Half the widths: a quarter of the convolution FLOPs (reduction stays 4: SE and CBAM get
    # 2 hidden units in the first stage).
    c.model.widths = [8, 16, 32]
    # Stem channels of the half-width network.
    c.model.stem_width = 8
    # About 2.6 epochs of the 50,000 training digits.
    c.train.num_steps = 1000
    # Warmup of the short run.
    c.optim.warmup_steps = 50
    # Four validation points to select from.
    c.eval.every_steps = 250
    # Checkpoints as often as validation.
    c.ckpt.every_steps = 250
  if "quicktest" in flags:
    config_lib.apply_quicktest(c)
    # A tiny network: two stages of two blocks, so one block per stage is drawn.
    c.model.stage_sizes = [2, 2]
    # Widths of the tiny network.
    c.model.widths = [4, 8]
    # Stem of the tiny network.
    c.model.stem_width = 4
    # Learning rate of the tiny network.
    c.optim.learning_rate = 0.05
  c.lock()
  return c
