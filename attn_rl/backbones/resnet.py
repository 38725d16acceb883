"""ResNets with an attention module on every residual branch, and a map-substitution hook.

  bottleneck  ImageNet ResNet-50/101 (He et al. 2016): 1x1 -> 3x3 (stride here, as in
              torchvision's "v1.5") -> 1x1 (4x width), each followed by BN, ReLU between
  basic       CIFAR ResNet-20/56: two 3x3 convs; projection shortcuts (1x1 conv + BN) where
              the shape changes (the paper's option B)

The attention module sits after the branch's last BN and before the addition (as in the
official SE, CBAM and SRM code). Stems: 'imagenet' (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) or
'cifar' (3x3 conv with `stem_stride`, BN, ReLU); with 'cifar', small widths and
`stem_stride=2` the network fits MNIST-sized canvases.

Parameters are flat and named `block{l}_*` (backbone) and `attention{l}` (the attention
module of block l, l counting blocks over all stages), so the actor's parameters are the
`attention*` entries (`split_params`).

Maps are numbered over the whole network: block l's k-th map (k < maps per block: 1 for SE
and SRM, 2 for CBAM: channel then spatial) has index l * maps_per_block + k. `override` (a
traced int32 scalar, -1 for none) replaces that one map by its mean in the forward pass, so
`jax.vmap` over `override` runs several substituted forwards at once.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from attn_rl.backbones import attention as attention_lib

# name -> (block kind, stage sizes, widths, stem).
ARCHS = {
    "resnet20": ("basic", (3, 3, 3), (16, 32, 64), "cifar"),
    "resnet56": ("basic", (9, 9, 9), (16, 32, 64), "cifar"),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet"),
    "resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512), "imagenet"),
}


class Trace(NamedTuple):
  """Per block l (over all stages): the attention module's input and what the critics read."""

  block_inputs: list  # [L] of [B, H, W, C]: the input of each block (the residual stream)
  inputs: list  # [L] of [B, H_l, W_l, C_l]: the branch output that the attention module gates
  maps: list  # [L] of tuples (one per map of the block) of [B, D]
  reduced: list  # [L] of tuples of [B, D]: the feature map reduced to the map's shape
  features: jax.Array | None = None  # [B, C]: the global average pool, before the neck
  embedding: jax.Array | None = None  # [B, C]: after the neck (= features without one)
  feature_map: jax.Array | None = None  # [B, h, w, C]: the last block's output (pooled above)


class ResNet(nn.Module):
  """images [B, H, W] uint8 (or [B, H, W, C], uint8 or float) -> (logits [B, K], Trace).

  `start_block` (static int; None: start at the image) resumes the network at that block:
  `images` is then the block's input (a `Trace.block_inputs` entry) and the Trace holds only
  the blocks from there on. `start_branch`, given with `start_block`, is that block's branch
  output (its `Trace.inputs` entry): the block then skips its branch convolutions and starts
  at its attention module (its shortcut still reads `images`).
  """

  block: str = "basic"
  stage_sizes: tuple[int, ...] = (3, 3, 3)
  widths: tuple[int, ...] = (16, 32, 64)
  stem: str = "cifar"
  stem_width: int = 16
  stem_stride: int = 1
  attention: str = "se"
  reduction: int = 16
  mean_mode: str = "example"
  num_classes: int = 10
  bn_momentum: float = 0.9
  # Per-channel input normalisation (after scaling uint8 to [0, 1]).
  input_mean: tuple[float, ...] = (0.0,)
  input_std: tuple[float, ...] = (1.0,)
  # Stride of the last stage's first block (1: the re-ID "last stride 1" of Luo et al. 2019).
  last_stride: int = 2
  # Head: 'none' (a dense layer with bias on the pooled features) or 'bnneck' (Luo et al.
  # 2019: BatchNorm without a bias, the "frozen zero bias", then a bias-free classifier
  # initialised with std 0.001; the triplet loss reads the features before the BN).
  neck: str = "none"

  @property
  def maps_per_block(self) -> int:
    return len(attention_lib.MAP_KINDS[self.attention])

  @property
  def num_blocks(self) -> int:
    return sum(self.stage_sizes)

  def _bn(self, train, name, **kw):
    return nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum, epsilon=1e-5,
                        name=name, **kw)

  @nn.compact
  def __call__(self, images, override=None, train: bool = True, start_block: int | None = None,
               start_branch: jax.Array | None = None):
    if start_branch is not None and start_block is None:
      raise ValueError("start_branch needs start_block: the block whose branch output it is.")
    override = jnp.asarray(-1 if override is None else override, jnp.int32)
    trace = Trace([], [], [], [])
    x = self._stem(images, train) if start_block is None else images
    index = 0
    for s, (size, width) in enumerate(zip(self.stage_sizes, self.widths, strict=True)):
      for b in range(size):
        if start_block is None or index >= start_block:
          last = s == len(self.stage_sizes) - 1
          stride = (self.last_stride if last else 2) if s > 0 and b == 0 else 1
          branch = start_branch if index == start_block else None
          x = self._block(x, index, width, stride, override, train, trace, branch)
        index += 1
    features = jnp.mean(x, axis=(1, 2))
    if self.neck == "none":
      logits = nn.Dense(self.num_classes, name="head")(features)
      return logits, trace._replace(features=features, embedding=features, feature_map=x)
    if self.neck != "bnneck":
      raise ValueError(f"model.neck must be 'none' or 'bnneck', got {self.neck!r}")
    embedding = self._bn(train, "neck_bn", use_bias=False)(features)
    logits = nn.Dense(self.num_classes, use_bias=False, name="head",
                      kernel_init=nn.initializers.normal(0.001))(embedding)
    return logits, trace._replace(features=features, embedding=embedding, feature_map=x)

  def _stem(self, images, train):
    x = images[..., None] if images.ndim == 3 else images
    if x.dtype == jnp.uint8:
      x = x.astype(jnp.float32) / 255.0
    x = (x - jnp.asarray(self.input_mean)) / jnp.asarray(self.input_std)
    if self.stem == "imagenet":
      x = nn.Conv(self.stem_width, (7, 7), 2, padding=3, use_bias=False, name="stem_conv")(x)
      x = nn.relu(self._bn(train, "stem_bn")(x))
      x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    elif self.stem == "cifar":
      x = nn.Conv(self.stem_width, (3, 3), self.stem_stride, padding=1, use_bias=False,
                  name="stem_conv")(x)
      x = nn.relu(self._bn(train, "stem_bn")(x))
    else:
      raise ValueError(f"model.stem must be 'imagenet' or 'cifar', got {self.stem!r}")
    return x

  def _block(self, x, index, width, stride, override, train, trace, branch=None):
    p = f"block{index}_"
    trace.block_inputs.append(x)
    conv = lambda f, k, st, n: nn.Conv(f, (k, k), st, padding=k // 2, use_bias=False,
                                       name=p + n)
    if branch is not None:
      out_width = 4 * width if self.block == "bottleneck" else width
      y = branch
    elif self.block == "bottleneck":
      out_width = 4 * width
      y = nn.relu(self._bn(train, p + "bn1")(conv(width, 1, 1, "conv1")(x)))
      y = nn.relu(self._bn(train, p + "bn2")(conv(width, 3, stride, "conv2")(y)))
      y = self._bn(train, p + "bn3")(conv(out_width, 1, 1, "conv3")(y))
    elif self.block == "basic":
      out_width = width
      y = nn.relu(self._bn(train, p + "bn1")(conv(width, 3, stride, "conv1")(x)))
      y = self._bn(train, p + "bn2")(conv(width, 3, 1, "conv2")(y))
    else:
      raise ValueError(f"model.block must be 'basic' or 'bottleneck', got {self.block!r}")
    first = index * self.maps_per_block
    replace = override == first + jnp.arange(self.maps_per_block)
    module = attention_lib.make_attention(
        self.attention, reduction=self.reduction, mean_mode=self.mean_mode,
        bn_momentum=self.bn_momentum, name=f"attention{index}")
    trace.inputs.append(y)
    y, maps, reduced = module(y, replace, train)
    trace.maps.append(maps)
    trace.reduced.append(reduced)
    if stride != 1 or x.shape[-1] != out_width:
      x = self._bn(train, p + "proj_bn")(conv(out_width, 1, stride, "proj")(x))
    return nn.relu(x + y)

  @nn.nowrap
  def attention_module(self, index: int) -> nn.Module:
    """An unbound copy of a block's attention module (apply it with `attention{index}` params)."""
    del index  # Every block's module has the same hyperparameters; only the parameters differ.
    return attention_lib.make_attention(self.attention, reduction=self.reduction,
                                        mean_mode=self.mean_mode, bn_momentum=self.bn_momentum)

  @nn.nowrap
  def stage_starts(self) -> list[int]:
    """[S]: the index of every stage's first block."""
    return [sum(self.stage_sizes[:s]) for s in range(len(self.stage_sizes))]

  @nn.nowrap
  def stage_of_block(self) -> list[int]:
    """[L]: the stage index of every block."""
    return [s for s, n in enumerate(self.stage_sizes) for _ in range(n)]


def split_params(tree: dict) -> tuple[dict, dict]:
  """{name: ...} -> (backbone, actor): the actor gets the `attention*` entries."""
  actor = {k: v for k, v in tree.items() if k.startswith("attention")}
  backbone = {k: v for k, v in tree.items() if not k.startswith("attention")}
  return backbone, actor


def make_resnet(model_config, num_classes: int) -> ResNet:
  """A ResNet from config.model: `arch` names a preset of ARCHS, or 'custom' reads the fields."""
  c = model_config
  if c.arch == "custom":
    block, stages, widths, stem = c.block, tuple(c.stage_sizes), tuple(c.widths), c.stem
  elif c.arch in ARCHS:
    block, stages, widths, stem = ARCHS[c.arch]
  else:
    raise ValueError(f"model.arch must be 'custom' or one of {sorted(ARCHS)}, got {c.arch!r}")
  return ResNet(
      block=block, stage_sizes=stages, widths=widths, stem=stem,
      stem_width=c.stem_width if c.arch == "custom" else (64 if stem == "imagenet" else 16),
      stem_stride=c.stem_stride if c.arch == "custom" else 1,
      attention=c.attention, reduction=c.reduction, mean_mode=c.mean_mode,
      num_classes=num_classes, bn_momentum=c.bn_momentum,
      input_mean=tuple(c.input_mean), input_std=tuple(c.input_std),
      last_stride=c.get("last_stride", 2), neck=c.get("neck", "none"),
  )


def num_params(tree) -> int:
  return int(sum(x.size for x in jax.tree.leaves(tree)))
