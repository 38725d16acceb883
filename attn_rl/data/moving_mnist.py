"""Moving MNIST generated the standard way, in two label modes where attention must find the
moving digits: where (which digit) and when (one frame cannot tell).

Generation follows Srivastava et al. (2015)'s script: a `canvas` x `canvas` (64x64) frame,
28x28 digits, `num_frames` (20) frames; each moving digit starts at a uniform position in
[0, 1]^2 of the free range (canvas - 28), moves `step_length` (0.1) of that range per frame in
a uniform direction and bounces off the edges (the coordinate is clamped to [0, 1] and its
velocity reversed); digits combine by pixel maximum. Static digits keep their start.

Modes (`mode`):
  single  `num_digits` digits of distinct classes, exactly one of them moves; the label is
          the moving digit's class. Every frame shows all the digits, so no frame alone tells
          which one is meant: the model has to see the motion.
  multi   `num_digits` digits of distinct classes, 1 to `num_digits` of them move (uniform);
          the label is the set of the moving digits' classes (multi-hot [10]), scored by mAP
          as ActivityNet is.

The first digit (always moving) is the split's digit at the example's index; the others are
drawn from the same split with other classes, so train, validation and test digits never mix.
Every draw is a counter-based hash of (seed, split stream, epoch, index, draw)
(`canvas.random_bits`): a video is a pure function of those numbers.
"""

from __future__ import annotations

import numpy as np

from attn_rl.data import canvas as canvas_lib
from attn_rl.data import digits as digits_lib

MODES = ("single", "multi")
NUM_CLASSES = 10


def trajectories(unit: np.ndarray, moving: np.ndarray, *, num_frames: int,
                 step_length: float) -> np.ndarray:
  """float [B, D, T, 2] positions (y, x) in [0, 1] of D digits over T frames.

  unit: float [B, D, 3] uniform in [0, 1): start y, start x, direction (a fraction of 2 pi).
  moving: bool [B, D]: digits that move (the others keep their start).
  """
  pos = unit[..., :2].copy()
  theta = 2 * np.pi * unit[..., 2]
  vel = np.stack([np.sin(theta), np.cos(theta)], -1) * moving[..., None]
  out = np.zeros(unit.shape[:2] + (num_frames, 2))
  for t in range(num_frames):
    out[:, :, t] = pos
    pos = pos + vel * step_length
    # Bounce: clamp to the range and reverse the velocity component that hit an edge.
    hit = (pos <= 0) | (pos >= 1)
    vel = np.where(hit, -vel, vel)
    pos = np.clip(pos, 0.0, 1.0)
  return out


def render(digits: np.ndarray, positions: np.ndarray, canvas: int) -> np.ndarray:
  """uint8 [B, T, canvas, canvas]: digits [B, D, h, w] pasted at positions [B, D, T, 2]
  (in [0, 1] of the free range), combined by maximum."""
  b, d, h, w = digits.shape
  t = positions.shape[2]
  frames = np.zeros((b * t, canvas, canvas), np.uint8)
  corner = np.floor(positions * (canvas - h)).astype(np.int64)  # [B, D, T, 2]
  for k in range(d):
    patch = np.repeat(digits[:, k], t, axis=0)  # [B*T, h, w], frame-major within a video
    top = corner[:, k, :, 0].reshape(-1)
    left = corner[:, k, :, 1].reshape(-1)
    canvas_lib.paste_max(frames, patch, top, left)
  return frames.reshape(b, t, canvas, canvas)


def class_index(labels: np.ndarray) -> list[np.ndarray]:
  """Per class c, the positions of its digits in a split (sorted)."""
  return [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]


def make_videos(digits: digits_lib.Digits, index: np.ndarray, *, mode: str, num_digits: int,
                num_frames: int, canvas: int, step_length: float, seed: int, stream: int,
                epoch: int, by_class: list[np.ndarray] | None = None):
  """Videos of a batch of examples (module docstring).

  Args:
    digits: the split's digits; index int [B]: each example's first digit (and its seed).
    by_class: `class_index(digits.labels)` (computed when not given).

  Returns:
    (frames uint8 [B, T, canvas, canvas], label: int32 [B] ('single') or float32 [B, 10]
    multi-hot ('multi'), moving bool [B, num_digits], positions float [B, D, T, 2]).
  """
  if mode not in MODES:
    raise ValueError(f"mode={mode!r} is not one of {MODES}.")
  if not 1 <= num_digits <= NUM_CLASSES:
    raise ValueError(f"num_digits={num_digits} must be in [1, {NUM_CLASSES}] (distinct classes).")
  if canvas < digits.images.shape[1]:
    raise ValueError(f"canvas={canvas} is smaller than a {digits.images.shape[1]}px digit.")
  by_class = class_index(digits.labels) if by_class is None else by_class
  b = len(index)
  first = digits.labels[index]
  # Draws: 10 class keys, one pick per other digit, 3 per digit's trajectory, 1 for the count.
  bits = canvas_lib.random_bits(seed, stream, epoch, index, NUM_CLASSES + 4 * num_digits + 1)
  unit = lambda x: (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
  # Classes: the first digit's, then distinct others in a random order.
  keys = unit(bits[:, :NUM_CLASSES])
  keys[np.arange(b), first] = -1.0
  classes = np.argsort(keys, axis=1)[:, :num_digits]
  chosen = np.zeros((b, num_digits), np.int64)
  chosen[:, 0] = index
  for k in range(1, num_digits):
    counts = np.array([len(by_class[c]) for c in range(NUM_CLASSES)])
    if np.any(counts[classes[:, k]] == 0):
      raise ValueError("A class has no digit in this split: Moving MNIST needs every class "
                       "(raise data.limit_train / limit_eval).")
    pick = canvas_lib.random_ints(bits[:, NUM_CLASSES + k], 1 << 30) % np.maximum(
        counts[classes[:, k]], 1)
    chosen[:, k] = [by_class[c][p] for c, p in zip(classes[:, k], pick, strict=True)]
  base = NUM_CLASSES + num_digits
  traj = unit(bits[:, base:base + 3 * num_digits]).reshape(b, num_digits, 3)
  if mode == "single":
    num_moving = np.ones(b, np.int64)
  else:
    num_moving = 1 + canvas_lib.random_ints(bits[:, -1], num_digits)
  moving = np.arange(num_digits)[None, :] < num_moving[:, None]
  positions = trajectories(traj, moving, num_frames=num_frames, step_length=step_length)
  frames = render(digits.images[chosen], positions, canvas)
  if mode == "single":
    label = first.astype(np.int32)
  else:
    label = np.zeros((b, NUM_CLASSES), np.float32)
    rows = np.repeat(np.arange(b), num_digits)
    label[rows, classes.reshape(-1)] = moving.reshape(-1)
  return frames, label, moving, positions
