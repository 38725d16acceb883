"""One training batching and one evaluation batching over any source, with a pluggable sampler.

A source is a function of split positions: `fetch(positions [n], epoch) -> {'image', 'label'}`
for training (the epoch seeds fresh canvases or augmentation) and `fetch(positions) -> ...`
for evaluation. Digit canvases and natural images (`pipeline.py`) differ only in their fetch.

Training batch `step` holds the global positions that the sampler gives it; this process keeps
its contiguous slice of them. The default sampler, `EpochPermutation`, visits perm_e[i*G :
(i+1)*G] with e = step // S, i = step % S, S = steps per epoch (remainder dropped) and perm_e a
permutation drawn from (seed, e). A batch is thus a pure function of (seed, step): resuming at
step s needs no iterator state, the dataset simply starts at s. Batches are made in grain's
prefetch thread, overlapping the device step.
"""

from __future__ import annotations

from collections.abc import Callable

import grain
import numpy as np


class EpochPermutation:
  """Index sampler: step -> (epoch, global positions), a fresh permutation every epoch."""

  def __init__(self, num_examples: int, *, seed: int, global_batch: int):
    self.num_examples, self.seed, self.global_batch = num_examples, seed, global_batch
    self.steps_per_epoch = num_examples // global_batch
    self._perms: dict[int, np.ndarray] = {}

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      # Keep only the current epoch's (and the previous one, for prefetch at the boundary).
      self._perms = {e: p for e, p in self._perms.items() if e == epoch - 1}
      self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(
          self.num_examples)
    return self._perms[epoch]

  def __call__(self, step: int) -> tuple[int, np.ndarray]:
    epoch, i = divmod(step, self.steps_per_epoch)
    return epoch, self._permutation(epoch)[i * self.global_batch:(i + 1) * self.global_batch]


class TrainBatches:
  """This process's training batch of a step: fetch(its slice of the sampler's positions)."""

  def __init__(self, fetch: Callable, num_examples: int, *, seed: int, global_batch: int,
               process_index: int = 0, process_count: int = 1, sampler=None):
    if global_batch % process_count:
      raise ValueError(
          f"train.batch_size={global_batch} does not divide over {process_count} processes.")
    if num_examples // global_batch == 0:
      raise ValueError(
          f"train.batch_size={global_batch} exceeds the {num_examples} training examples.")
    self.sampler = sampler or EpochPermutation(num_examples, seed=seed, global_batch=global_batch)
    self.steps_per_epoch = self.sampler.steps_per_epoch
    self._fetch = fetch
    self._local = global_batch // process_count
    self._offset = process_index * self._local

  def global_indices(self, step: int) -> np.ndarray:
    """Positions of the whole global batch of `step` (every process computes the same)."""
    return self.sampler(step)[1]

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    epoch, positions = self.sampler(step)
    return self._fetch(positions[self._offset:self._offset + self._local], epoch)


class SeedStack:
  """The training batches of several seeds' runs, stacked: step -> {key: [seeds, batch, ...]}.

  Each seed's `TrainBatches` keeps its own order and draws, so seed k's slice is the batch
  its run would get alone.
  """

  def __init__(self, per_seed: list[TrainBatches]):
    self.per_seed = per_seed
    self.steps_per_epoch = per_seed[0].steps_per_epoch

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    batches = [b(step) for b in self.per_seed]
    return {k: np.stack([b[k] for b in batches]) for k in batches[0]}


def train_dataset(batches: TrainBatches | SeedStack, start_step: int, num_steps: int,
                  prefetch: int):
  """A grain iterator over the batches of steps [start_step, num_steps)."""
  ds = grain.MapDataset.range(start_step, num_steps).map(batches)
  return iter(
      ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch))
  )


class EvalBatches:
  """A list-like of this process's slices of the fixed evaluation batches of a split.

  The split is padded to a whole number of global batches; `mask` (float32) is 0 on padding
  and `index` (int32) -1, so sums of masked metrics over all batches are exact. With `cache`
  every batch is made once, up front (digit canvases: cheap to keep, reused every evaluation);
  otherwise when indexed (natural images: decoded, not kept).
  """

  def __init__(self, fetch: Callable, num_examples: int, *, global_batch: int,
               process_index: int = 0, process_count: int = 1, cache: bool = False):
    if global_batch % process_count:
      raise ValueError(f"eval.batch_size={global_batch} does not divide over {process_count} "
                       "hosts.")
    self._fetch, self._n, self._global = fetch, num_examples, global_batch
    self._local = global_batch // process_count
    self._offset = process_index * self._local
    self._num = -(-num_examples // global_batch)
    self._cache = [self._make(i) for i in range(self._num)] if cache else None

  def _make(self, i: int) -> dict[str, np.ndarray]:
    start = i * self._global + self._offset
    idx = np.arange(start, start + self._local)
    idx = np.where(idx < self._n, idx, -1).astype(np.int32)
    batch = self._fetch(np.maximum(idx, 0))
    return {**batch, "mask": (idx >= 0).astype(np.float32), "index": idx}

  def __len__(self) -> int:
    return self._num

  def __getitem__(self, i: int) -> dict[str, np.ndarray]:
    if not 0 <= i < self._num:
      raise IndexError(i)
    return self._cache[i] if self._cache is not None else self._make(i)

  def __iter__(self):
    return (self[i] for i in range(self._num))
