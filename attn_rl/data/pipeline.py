"""Input pipelines: a grain dataset indexed by training step, and fixed evaluation batches.

Training batch `step` holds the global examples perm_e[i*G : (i+1)*G] with e = step // S,
i = step % S, S = steps per epoch (remainder dropped) and perm_e a permutation drawn from
(seed, e); this process keeps its contiguous slice of the G examples. A batch is thus a pure
function of (seed, step), so resuming at step s needs no iterator state: the dataset simply
starts at s. Canvases are generated on the host, vectorised over the batch, in grain's
prefetch thread, overlapping the device step.
"""

from __future__ import annotations

import grain
import numpy as np

from attn_rl.data import canvas as canvas_lib
from attn_rl.data import images, sources

# Evaluation canvases use this seed whatever config.seed is: every run scores the same images.
EVAL_SEED = 2014
_STREAMS = {"train": 0, "validation": 1, "test": 2}


def image_shape(data_config) -> tuple[int, ...]:
  """Shape of one image as the model sees it (no batch axis)."""
  if data_config.dataset in images.DATASETS:
    return (data_config.image_size,) * 2 + (3,)
  return (data_config.canvas_size,) * 2


def num_classes(data_config) -> int:
  if data_config.dataset in images.DATASETS:
    return images.DATASETS[data_config.dataset][2]
  return 10


def make_batches(data_config, split: str, *, seed: int, global_batch: int, process_index=0,
                 process_count=1):
  """(batches, number of examples) of a split: digit canvases or natural images.

  'train' gives a callable step -> batch (`TrainBatches`, `images.ImageTrainBatches`); other
  splits a list-like of padded evaluation batches (`eval_batches`, `images.ImageEvalBatches`).
  """
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  if data_config.dataset in images.DATASETS:
    source = images.load_images(data_config, split)
    if split == "train":
      return images.ImageTrainBatches(data_config, source, seed=seed, **proc), len(source)
    return images.ImageEvalBatches(data_config, source, **proc), len(source)
  digits = sources.load_digits(data_config, split)
  if split == "train":
    return TrainBatches(data_config, digits, seed=seed, **proc), len(digits)
  return eval_batches(data_config, digits, split, **proc), len(digits)


def canvas_fn(data_config, digits: sources.Digits, split: str, seed: int):
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
      stream=_STREAMS[split],
      epoch=epoch,
  )


class TrainBatches:
  """Training batch of this process for a step: {'image': uint8 [L, S, S], 'label': [L]}."""

  def __init__(self, data_config, digits, *, seed, global_batch, process_index=0, process_count=1):
    if global_batch % process_count:
      raise ValueError(
          f"train.batch_size={global_batch} does not divide over {process_count} processes."
      )
    self.steps_per_epoch = len(digits) // global_batch
    if self.steps_per_epoch == 0:
      raise ValueError(
          f"train.batch_size={global_batch} exceeds the {len(digits)} training examples."
      )
    self._digits, self._seed, self._global = digits, seed, global_batch
    self._local = global_batch // process_count
    self._offset = process_index * self._local
    self._canvas = canvas_fn(data_config, digits, "train", seed)
    self._perms: dict[int, np.ndarray] = {}

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      # Keep only the current epoch's (and the previous one, for prefetch at the boundary).
      self._perms = {e: p for e, p in self._perms.items() if e == epoch - 1}
      self._perms[epoch] = np.random.default_rng([self._seed, epoch]).permutation(
          len(self._digits))
    return self._perms[epoch]

  def global_indices(self, step: int) -> np.ndarray:
    """Indices of the whole global batch of `step` (every process computes the same)."""
    epoch, i = divmod(step, self.steps_per_epoch)
    return self._permutation(epoch)[i * self._global : (i + 1) * self._global]

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    epoch = step // self.steps_per_epoch
    index = self.global_indices(step)[self._offset : self._offset + self._local]
    return {"image": self._canvas(index, epoch), "label": self._digits.labels[index]}


def train_dataset(batches: TrainBatches, start_step: int, num_steps: int, prefetch: int):
  """A grain iterator over the batches of steps [start_step, num_steps)."""
  ds = grain.MapDataset.range(start_step, num_steps).map(batches)
  return iter(
      ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch))
  )


def eval_batches(data_config, digits, split, *, global_batch, process_index=0, process_count=1):
  """This process's slices of the fixed evaluation batches of a split.

  The split is padded to a whole number of global batches; `mask` is 0 on padding, so sums
  of masked metrics over all batches are exact. Returns a list of dicts with 'image',
  'label', 'mask' (float32) and 'index' (int32, -1 on padding).
  """
  if global_batch % process_count:
    raise ValueError(f"eval.batch_size={global_batch} does not divide over {process_count} hosts.")
  n = len(digits)
  canvases = canvas_fn(data_config, digits, split, EVAL_SEED)(np.arange(n), 0)
  padded = -(-n // global_batch) * global_batch
  index = np.full(padded, -1, np.int32)
  index[:n] = np.arange(n)
  local = global_batch // process_count
  out = []
  for start in range(0, padded, global_batch):
    idx = index[start + process_index * local : start + (process_index + 1) * local]
    safe = np.maximum(idx, 0)
    out.append({
        "image": canvases[safe],
        "label": digits.labels[safe],
        "mask": (idx >= 0).astype(np.float32),
        "index": idx,
    })
  return out
