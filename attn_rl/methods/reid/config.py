"""The re-ID method's config: DREAL's attention ResNet and critics, a BNNeck, re-ID data.

Composed from DREAL's defaults (`model`, `dreal`, `optim`, run groups: the same network,
critics and rewards) with the re-ID data group (`data/config.reid`), the `reid` loss group and
the paper's optimiser (AMSGrad, 3e-4 divided by 10 every 40 epochs, weight decay 5e-4).
"""

from __future__ import annotations

import ml_collections

from attn_rl.data import config as data_config
from attn_rl.methods.dreal import config as dreal_config

# Keys DREAL's defaults carry that re-ID never had (none yet).
RETIRED_KEYS = dreal_config.RETIRED_KEYS


def defaults() -> ml_collections.ConfigDict:
  c = dreal_config.defaults()
  c.method = "reid"
  c.data = data_config.reid()
  # The paper's arrangement: sequential channel and spatial attention (CBAM).
  c.model.attention = "cbam"
  # The last stage keeps its resolution (Luo et al. 2019; the paper removes conv5_x's stride).
  c.model.last_stride = 1
  # BatchNorm neck after global pooling (`backbones/resnet.py`).
  c.model.neck = "bnneck"
  # ImageNet channel means (after scaling to [0, 1]).
  c.model.input_mean = [0.485, 0.456, 0.406]
  # ImageNet channel standard deviations.
  c.model.input_std = [0.229, 0.224, 0.225]
  # Orbax checkpoint to start from: a workdir of this project (e.g. of
  # configs/dreal_imagenet.py); its backbone, attention and BatchNorm statistics are copied
  # wherever names and shapes agree, the classifier is not. '' starts from scratch.
  c.model.init_from = ""

  c.reid = ml_collections.ConfigDict()
  # Triplet margin (the paper: 0.5).
  c.reid.margin = 0.5
  # Weight of the triplet loss beside the ID loss.
  c.reid.triplet_weight = 1.0
  # Label smoothing of the ID loss (the paper: 0.1).
  c.reid.label_smoothing = 0.1
  # Embedding ranked at evaluation: 'after' the neck's BatchNorm (BNNeck's choice) or 'before'.
  c.reid.eval_feature = "after"
  # Average the features of the image and its horizontal flip (the paper's evaluation).
  c.reid.flip_test = True

  # AMSGrad (0.9, 0.999), learning rate 3e-4 divided by 10 every `decay_every_steps`.
  c.optim.name = "amsgrad"
  # Peak learning rate.
  c.optim.learning_rate = 3e-4
  # Step decay (the paper: every 40 epochs).
  c.optim.schedule = "piecewise"
  # Weight decay on kernels, added to the gradient as torch's Adam does.
  c.optim.weight_decay = 5e-4
  # P x K.
  c.train.batch_size = c.data.p * c.data.k
  # Model selection maximises validation mAP (the Method record); a multiple of P x K.
  c.eval.batch_size = 128
  # Attention pictures are not drawn for re-ID.
  c.eval.num_pictures = 0
  return c


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid re-ID config."""
  from attn_rl.core import config as config_lib  # noqa: PLC0415

  data_config.validate_reid(c)
  dreal_config.validate_network(c)
  config_lib.one_of(c.model.neck, ("none", "bnneck"), "model.neck")
  config_lib.one_of(c.model.last_stride, (1, 2), "model.last_stride")
  config_lib.one_of(c.reid.eval_feature, ("before", "after"), "reid.eval_feature")
  if not 0.0 <= c.reid.label_smoothing < 1.0:
    raise ValueError(f"reid.label_smoothing={c.reid.label_smoothing} must be in [0, 1).")
  if c.reid.margin < 0 or c.reid.triplet_weight < 0:
    raise ValueError(f"reid.margin={c.reid.margin} and reid.triplet_weight="
                     f"{c.reid.triplet_weight} must be >= 0.")
  channels = 1 if c.data.dataset == "mnist_identities" else 3
  if len(c.model.input_mean) != channels or len(c.model.input_std) != channels:
    raise ValueError(f"data.dataset={c.data.dataset!r} has {channels} channel(s): give "
                     f"model.input_mean and model.input_std {channels} value(s) each.")


def person_recipe(c: ml_collections.ConfigDict, *, dataset: str, train_images: int,
                  attention: str, flags: set[str]) -> ml_collections.ConfigDict:
  """The paper's re-ID recipe (Sec. 4.2) on a folder dataset: ResNet-50 with last stride 1 and
  CBAM-arranged attention, 384 x 128 crops, P=16 K=8, AMSGrad 3e-4 / 10 every 40 of 160 epochs.

  An epoch is counted as `train_images` / 128 steps (torchreid's estimate of a PK sampler's
  length). `vanilla`: no critics; `quicktest`: a tiny network on the synthetic stand-in.
  """
  from attn_rl.core import config as config_lib  # noqa: PLC0415

  steps_per_epoch = round(train_images / 128)
  # The dataset's folder under data.root.
  c.data.dataset = dataset
  # Identities held out for model selection (validation query/gallery).
  c.data.num_validation = 100
  # The paper's input.
  c.data.image_size = [384, 128]
  # ResNet-50 (ImageNet stem, bottleneck blocks).
  c.model.arch = "resnet50"
  # Attention module on every residual branch (the paper: CBAM's arrangement).
  c.model.attention = attention
  # The paper's reduction.
  c.model.reduction = 16
  # With critics, unless the vanilla variant.
  c.dreal.critics = "vanilla" not in flags
  # 40 epochs.
  c.optim.decay_every_steps = 40 * steps_per_epoch
  # 160 epochs.
  c.train.num_steps = 160 * steps_per_epoch
  # Validate every 10 epochs.
  c.eval.every_steps = 10 * steps_per_epoch
  # Checkpoint every 5 epochs.
  c.ckpt.every_steps = 5 * steps_per_epoch
  # Log every this many steps.
  c.log.every_steps = 20
  if "quicktest" in flags:
    config_lib.apply_quicktest(c)
    # The synthetic stand-in (RGB identities; no files needed).
    c.data.source = "synthetic"
    # Stand-in identities: training, then validation and test each.
    c.data.num_identities, c.data.num_eval_identities, c.data.num_distractors = 64, 24, 8
    # A tall input, as pedestrians are.
    c.data.image_size = [64, 32]
    # Padding of the small input.
    c.data.pad = 4
    # P x K of the quicktest.
    c.data.p, c.data.k = 4, 4
    # = P x K.
    c.train.batch_size = 16
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
    # No decay in 6 steps.
    c.optim.decay_every_steps = 1000
    # Constant rate.
    c.optim.schedule = "constant"
  return c
