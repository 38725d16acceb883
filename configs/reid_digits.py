"""Offline re-ID: retrieve MNIST digit *instances* across six "cameras" (data/reid.py), with
reinforced attention (DREAL's critics) against the vanilla attention network.

No person re-ID data can be had on this project's machines; this task needs what re-ID needs:
identity-preserving, camera-invariant features (each camera has its own scale, contrast,
background, noise and clutter; an identity is one handwritten digit, told apart from other
instances of its class), training and evaluation identities disjoint, distractors in the
gallery, the Market protocol (same identity and camera removed). The recipe is the paper's
(CBAM arrangement, last stride 1, BNNeck, label-smoothed ID loss + batch-hard triplet with
margin 0.5, PK sampling, AMSGrad, weight decay 5e-4, flip-averaged features, cosine ranking)
on a small CIFAR-style ResNet trained from scratch, at a budget that fits a 2-core CPU.

Variants (comma-separated): `cbam` (default), `se`, `srm`, `none` (plain ResNet; needs
`vanilla`); `vanilla` (no critics); `quicktest` (seconds, synthetic digits).

Run (3 seeds of each arm in one process each; docs/reid.md has the table):
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets python -m attn_rl.main \
    --config=configs/reid_digits.py --config.train.num_seeds=3 --workdir=runs/reid_digits_cbam
  ... --config=configs/reid_digits.py:vanilla --config.train.num_seeds=3 \
    --workdir=runs/reid_digits_cbam_vanilla
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dreal import config as dreal_config
from attn_rl.methods.reid import config as reid_config

FLAGS = ("vanilla", "quicktest")


def get_config(arg=None):
  attention, flags = dreal_config.parse(arg, FLAGS, default="cbam")
  c = reid_config.defaults()
  # Digit instances as identities (MNIST from tfds).
  c.data.dataset = "mnist_identities"
  # MNIST from tfds.
  c.data.source = "tfds"
  # Training identities (each 2-4 cameras, 1-3 images per camera).
  c.data.num_identities = 1000
  # Validation and test identities each.
  c.data.num_eval_identities = 500
  # Gallery distractors (pid 0) per evaluation split.
  c.data.num_distractors = 200
  # Square grayscale canvas.
  c.data.image_size = [40, 40]
  # Padding before the random crop.
  c.data.pad = 4
  # No flips: a mirrored digit is another shape.
  c.data.flip_prob = 0.0
  # Random erasing as in the paper.
  c.data.erase_prob = 0.5
  # Erased pixels are black (the digits' background before a camera's offset).
  c.data.erase_fill = [0.0]
  # P identities x K images.
  c.data.p, c.data.k = 16, 4
  # = P x K.
  c.train.batch_size = 64
  # Attention module on every residual branch.
  c.model.attention = attention
  # CIFAR-style basic blocks, three stages of two.
  c.model.arch = "custom"
  # Basic blocks.
  c.model.block = "basic"
  # Blocks per stage.
  c.model.stage_sizes = [2, 2, 2]
  # Widths per stage.
  c.model.widths = [16, 32, 64]
  # CIFAR stem.
  c.model.stem = "cifar"
  # Stem channels.
  c.model.stem_width = 16
  # 40 -> 20 at the stem; the last stage keeps stage 2's 10 x 10 (last stride 1).
  c.model.stem_stride = 2
  # SE/CBAM reduction: 4 hidden units at 16 channels.
  c.model.reduction = 4
  # Grayscale input.
  c.model.input_mean = [0.0]
  # Grayscale input.
  c.model.input_std = [1.0]
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in flags
  # Flip-averaged features are for pedestrians; digits are not mirror-symmetric.
  c.reid.flip_test = False
  # From scratch: a higher rate than the paper's fine-tuning 3e-4 (3e-3 against 1e-3: validation
  # mAP 7.0% against 3.6% after 400 vanilla steps; docs/reid.md).
  c.optim.learning_rate = 3e-3
  # Divided by 10 once, for the last quarter.
  c.optim.decay_every_steps = 1500
  # About 22 epochs of the PK sampler (90 batches each).
  c.train.num_steps = 2000
  # Validation mAP every this many steps selects the checkpoint.
  c.eval.every_steps = 250
  # Evaluation batch.
  c.eval.batch_size = 256
  # Checkpoints as often as validation.
  c.ckpt.every_steps = 250
  # Log every this many steps.
  c.log.every_steps = 50
  if "quicktest" in flags:
    config_lib.apply_quicktest(c)
    # Synthetic digits.
    c.data.source = "synthetic"
    # Few identities.
    c.data.num_identities, c.data.num_eval_identities, c.data.num_distractors = 64, 24, 8
    # The smallest canvas.
    c.data.image_size = [28, 28]
    # P x K of the quicktest.
    c.data.p, c.data.k = 4, 4
    # = P x K.
    c.train.batch_size = 16
    # A tiny network: two stages of two blocks.
    c.model.stage_sizes = [2, 2]
    # Widths of the tiny network.
    c.model.widths = [4, 8]
    # Stem of the tiny network.
    c.model.stem_width = 4
    # Constant rate.
    c.optim.schedule = "constant"
  c.lock()
  return c
