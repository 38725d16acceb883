"""Input pipelines of a config's data: digit canvases or natural images, through `batching`.

`make_batches(data, split)` gives a callable step -> batch for 'train' and a list-like of
padded evaluation batches otherwise; `image_shape` and `num_classes` tell the model what
comes. Digit canvases are generated on the host, vectorised over the batch (`canvas.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attn_rl.data import batching, images, reid, sequences, splits, video
from attn_rl.data import canvas as canvas_lib
from attn_rl.data import digits as digits_lib

# Evaluation canvases use this seed whatever config.seed is: every run scores the same images.
EVAL_SEED = 2014


def image_shape(data_config) -> tuple[int, ...]:
  """Shape of one image as the model sees it (no batch axis; videos: one clip's cubes)."""
  if data_config.dataset == video.DATASET:
    return video.cube_shape(data_config)
  if data_config.dataset in reid.DATASETS:
    return reid.image_shape(data_config)
  if data_config.dataset in sequences.DATASETS:
    return sequences.image_shape(data_config)
  if data_config.dataset in images.DATASETS:
    return (data_config.image_size,) * 2 + (3,)
  return (data_config.canvas_size,) * 2


def num_classes(data_config) -> int:
  """Classes of the configured dataset (MNIST's 10 for digit canvases; re-ID: the training
  identities; digit sequences: 10 digits and the end label, or addition's 19 sums; videos: as
  their files say)."""
  if data_config.dataset == video.DATASET:
    return video.num_classes(data_config)
  if data_config.dataset in reid.DATASETS:
    return reid.num_classes(data_config)
  if data_config.dataset in sequences.DATASETS:
    return sequences.num_classes(data_config)
  if data_config.dataset in images.DATASETS:
    return images.DATASETS[data_config.dataset][2]
  return 10


def canvas_fn(data_config, digits: digits_lib.Digits, split: str, seed: int):
  """(digit indices [B], epoch) -> uint8 canvases [B, S, S] for one split."""
  return lambda index, epoch: canvas_lib.make_canvases(
      digits.images[index],
      index,
      pool=digits.images,
      task=data_config.task,
      canvas_size=data_config.canvas_size,
      num_clutter=data_config.num_clutter,
      clutter_size=data_config.clutter_size,
      seed=seed,
      stream=splits.STREAMS[split],
      epoch=epoch,
  )


def make_batches(data_config, split: str, *, seed: int | Sequence[int], global_batch: int,
                 process_index=0, process_count=1):
  """(batches, number of examples) of a split: digit canvases or natural images.

  'train' gives a `batching.TrainBatches` (step -> batch); other splits a
  `batching.EvalBatches` of padded evaluation batches. A sequence of seeds (a multi-seed
  run) gives for 'train' a `batching.SeedStack` of one `TrainBatches` per seed, each with its
  own order and draws, over one copy of the source; evaluation batches do not depend on the
  seed.
  """
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  if data_config.dataset in reid.DATASETS:  # PK-sampled identities; query/gallery evaluation.
    return reid.make_batches(data_config, split, seed=seed, **proc)
  if data_config.dataset in sequences.DATASETS:  # Label sequences: [B, S] and their lengths.
    return sequences.make_batches(data_config, split, seed=seed, **proc)
  if data_config.dataset == video.DATASET:  # Clips of feature cubes, with their video.
    return video.make_batches(data_config, split, seed=seed, **proc)
  seeds = [seed] if isinstance(seed, int) else list(seed)
  stack = (lambda per_seed: per_seed[0]) if isinstance(seed, int) else batching.SeedStack
  if data_config.dataset in images.DATASETS:
    source = images.load_images(data_config, split)
    if split == "train":
      fetch = lambda s: lambda positions, epoch: images.make_batch(
          source, data_config, positions, seed=s, epoch=epoch)
      return stack([batching.TrainBatches(fetch(s), len(source), seed=s, **proc)
                    for s in seeds]), len(source)
    fetch = lambda positions: images.make_batch(source, data_config, positions, seed=None,
                                                epoch=0)
    return batching.EvalBatches(fetch, len(source), **proc), len(source)
  digits = digits_lib.load_digits(data_config, split)
  if split == "train":
    return stack([digit_batches(data_config, digits, split, seed=s, **proc)
                  for s in seeds]), len(digits)
  return digit_batches(data_config, digits, split, seed=seeds[0], **proc), len(digits)


def digit_batches(data_config, digits: digits_lib.Digits, split: str, *, seed: int,
                  global_batch: int, process_index=0, process_count=1):
  """Canvas batches of decoded digits: `TrainBatches` for 'train', else cached `EvalBatches`
  (evaluation canvases are drawn with EVAL_SEED whatever `seed` is)."""
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  if split == "train":
    canvases = canvas_fn(data_config, digits, "train", seed)
    fetch = lambda index, epoch: {"image": canvases(index, epoch), "label": digits.labels[index]}
    return batching.TrainBatches(fetch, len(digits), seed=seed, **proc)
  canvases = canvas_fn(data_config, digits, split, EVAL_SEED)
  fetch = lambda index: {"image": canvases(index, 0), "label": digits.labels[index]}
  return batching.EvalBatches(fetch, len(digits), cache=True, **proc)


def eval_images(data_config, split: str, num: int) -> tuple[np.ndarray, np.ndarray]:
  """The first `num` evaluation images and labels of a split, as every run scores them."""
  batches, n = make_batches(data_config, split, seed=0, global_batch=max(1, min(num, 512)))
  out_images, out_labels = [], []
  for b in batches:
    keep = b["mask"] > 0
    out_images.append(b["image"][keep])
    out_labels.append(b["label"][keep])
    if sum(len(x) for x in out_labels) >= min(num, n):
      break
  return np.concatenate(out_images)[:num], np.concatenate(out_labels)[:num]
