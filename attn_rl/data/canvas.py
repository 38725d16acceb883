"""Translated and cluttered canvases, generated vectorised over a batch on the host.

Every random choice is a counter-based hash of (seed, stream, epoch, index, draw), so a canvas
is a deterministic function of those numbers: training images get fresh positions and clutter
every epoch, evaluation splits pass a fixed epoch so every run sees the same images, and a
resumed run regenerates exactly the batches it would have seen. No generator state is kept.

Tasks (Mnih et al. 2014, Sec. 4.1):
  plain       the 28x28 digit itself.
  translated  the digit at a uniformly random position in a `canvas_size` square.
  cluttered   translated, plus `num_clutter` random `clutter_size` square crops of other digits
              of the same split at random positions; pieces and digit combine by pixel maximum.
"""

from __future__ import annotations

import numpy as np

from attn_rl.data.config import TASKS  # noqa: F401 (the task names, re-exported)

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
  """splitmix64's finaliser: a bijective avalanche on uint64 (wrapping arithmetic)."""
  x = (x ^ (x >> np.uint64(30))) * _M1
  x = (x ^ (x >> np.uint64(27))) * _M2
  return x ^ (x >> np.uint64(31))


def random_bits(seed: int, stream: int, epoch: int, index: np.ndarray, num_draws: int):
  """uint64 [B, num_draws] of hashed bits, one row per example index."""
  with np.errstate(over="ignore"):
    h = _mix(np.uint64(seed) * _GOLDEN + np.uint64(stream))
    h = _mix(h ^ (np.uint64(epoch) * _GOLDEN))
    h = _mix(h ^ (index.astype(np.uint64)[:, None] * _GOLDEN))
    return _mix(h ^ (np.arange(1, num_draws + 1, dtype=np.uint64)[None, :] * _GOLDEN))


def random_ints(bits: np.ndarray, high: int) -> np.ndarray:
  """Uniform int64 in [0, high) from hashed bits (53-bit float multiply, no modulo bias)."""
  unit = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
  return np.minimum((unit * high).astype(np.int64), high - 1)


def paste_max(canvas: np.ndarray, patch: np.ndarray, top: np.ndarray, left: np.ndarray):
  """canvas[b, top_b:+h, left_b:+w] = max(canvas[...], patch[b]) for every b at once."""
  b, h, w = patch.shape
  rows = (top[:, None] + np.arange(h))[:, :, None]
  cols = (left[:, None] + np.arange(w))[:, None, :]
  bidx = np.arange(b)[:, None, None]
  canvas[bidx, rows, cols] = np.maximum(canvas[bidx, rows, cols], patch)


def make_canvases(
    digits: np.ndarray,
    index: np.ndarray,
    *,
    pool: np.ndarray,
    task: str,
    canvas_size: int,
    num_clutter: int = 0,
    clutter_size: int = 8,
    seed: int,
    stream: int,
    epoch: int,
) -> np.ndarray:
  """Canvases for one batch.

  Args:
    digits: uint8 [B, h, w], the digits to place.
    index: int [B], each digit's index in its split (seeds its randomness).
    pool: uint8 [N, h, w], the split's digits, from which clutter is cropped.
    task: one of TASKS.
    canvas_size: side of the square canvas (ignored for 'plain').
    num_clutter, clutter_size: clutter pieces and their side (only for 'cluttered').
    seed, stream, epoch: with `index`, all the randomness (see module docstring).

  Returns:
    uint8 [B, canvas_size, canvas_size] (or [B, h, w] for 'plain').
  """
  if task == "plain":
    return digits
  b, h, w = digits.shape
  n_clutter = num_clutter if task == "cluttered" else 0
  bits = random_bits(seed, stream, epoch, index, 2 + 5 * n_clutter)
  canvas = np.zeros((b, canvas_size, canvas_size), np.uint8)
  for k in range(n_clutter):
    d = bits[:, 2 + 5 * k : 7 + 5 * k]
    other = random_ints(d[:, 0], len(pool) - 1)
    # Skip the digit's own index so that clutter always comes from another digit.
    other = np.where(other >= index, other + 1, other) if len(pool) > 1 else other
    cy = random_ints(d[:, 1], h - clutter_size + 1)
    cx = random_ints(d[:, 2], w - clutter_size + 1)
    rows = (cy[:, None] + np.arange(clutter_size))[:, :, None]
    cols = (cx[:, None] + np.arange(clutter_size))[:, None, :]
    piece = pool[other[:, None, None], rows, cols]
    top = random_ints(d[:, 3], canvas_size - clutter_size + 1)
    left = random_ints(d[:, 4], canvas_size - clutter_size + 1)
    paste_max(canvas, piece, top, left)
  top = random_ints(bits[:, 0], canvas_size - h + 1)
  left = random_ints(bits[:, 1], canvas_size - w + 1)
  paste_max(canvas, digits, top, left)
  return canvas
