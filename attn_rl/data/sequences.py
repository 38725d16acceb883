"""Digit sequences: multi-digit MNIST, MNIST pairs and addition, and SVHN format 1
(`digitStruct.mat`).

A sequence example is an image and its label sequence: `label` int32 [S] holds the digits
(0-9) in reading order, then END (10) in every remaining position, and `length` int32 [] the
number of digits. With variable lengths S = max_digits + 1, so even a 5-digit label ends with
END (the model must say where the sequence stops); with a fixed length (MNIST pairs) S =
max_digits and there is no END. MNIST addition has one position (S = 1), the sum 0 to 18.

Tasks, every random choice a counter-based hash of (seed, split stream, epoch, index, draw)
(`canvas.random_bits`), so an example is a pure function of those numbers:

  multidigit_mnist  1 to `max_digits` MNIST digits in a row, each 28x28 digit shifted
                    `spacing` px right of the previous one and jittered vertically; the tight
                    box of their ink, expanded by `box_expand` (30%) in both directions, is
                    resampled to `canvas_size` squared (64x64), Goodfellow et al.'s (2014) SVHN
                    crop, which squeezes long numbers horizontally as it does house numbers;
                    then a random `crop_size` crop (54x54) in training, the centre crop in
                    evaluation. Optional clutter: 8x8 pieces of other digits on the 64x64 image.
                    The first digit is the split's digit at `index`; the others are drawn from
                    the split, so train, validation and test digits never mix.
  mnist_pairs       two MNIST digits at random, non-overlapping positions on a `canvas_size`
                    (100x100) canvas; the label is both digits, left to right (DRAM's Table 1
                    task; its ordering rule is not in the texts we have: ours is left to right,
                    ties by row).
  mnist_addition    the same canvases as mnist_pairs; the label is the digits' sum (0 to 18,
                    one position, 19 classes), DRAM's second MNIST task ("learning to do
                    addition", Ba et al. 2015; its text is not among ours, so the
                    task's details are as pairs, ours).
  svhn              the Goodfellow crop of SVHN format 1 images, made once by
                    `prepare_svhn` (python -m attn_rl.tools.prepare_svhn) into
                    `svhn_<split>.npz`; grayscale as DRAM used it; random 54x54 crops in
                    training, the centre crop in evaluation. Splits: `train` is SVHN train +
                    extra less a validation carve of `num_validation` images by a fixed
                    permutation (`splits.carve`); `test` is SVHN test.

`digitStruct.mat` is a MATLAB v7.3 (HDF5) file: `/digitStruct/name` holds references to
uint16 character arrays, `/digitStruct/bbox` references to groups with fields `height`,
`label`, `left`, `top`, `width`; a field of a one-digit record is an inline 1x1 number, a field
of a several-digit record a column of references to 1x1 numbers. Label 10 means the digit 0.
"""

from __future__ import annotations

import dataclasses
import os
import types

import numpy as np

from attn_rl.data import batching, splits
from attn_rl.data import canvas as canvas_lib
from attn_rl.data import config as data_config_lib
from attn_rl.data import digits as digits_lib

DATASETS = ("multidigit_mnist", "mnist_pairs", "mnist_addition", "svhn")
# The end-of-sequence label, after the ten digits.
END = 10
NUM_CLASSES = 11
# MNIST addition's classes: the sums 0 to 18.
SUMS = 19
# Evaluation examples are drawn with this seed whatever config.seed is.
EVAL_SEED = 2015
# Images with more digits than this are dropped from SVHN, as Goodfellow et al. did.
SVHN_MAX_DIGITS = 5


def sequence_length(data_config) -> int:
  """Label positions S: max_digits + 1 (the END) for variable lengths, max_digits if fixed,
  1 for addition (the sum)."""
  if data_config.dataset == "mnist_addition":
    return 1
  return data_config.max_digits + (0 if fixed_length(data_config) else 1)


def fixed_length(data_config) -> bool:
  """No END label: every position is scored (pairs: both digits; addition: the sum)."""
  return data_config.dataset in data_config_lib.TWO_DIGIT_TASKS


def num_classes(data_config) -> int:
  """Classes at each label position: 10 digits and END, or addition's 19 sums."""
  return SUMS if data_config.dataset == "mnist_addition" else NUM_CLASSES


def label_classes(data_config) -> int:
  """Classes a per-position head must name (no END): 10 digits, or addition's 19 sums."""
  return SUMS if data_config.dataset == "mnist_addition" else 10


def image_shape(data_config) -> tuple[int, int]:
  side = data_config.canvas_size if data_config.crop_size is None else data_config.crop_size
  return (side, side)


def pad_labels(digits: np.ndarray, lengths: np.ndarray, positions: int) -> np.ndarray:
  """int32 [B, positions]: each row's first `length` digits, END after (digits [B, >= len])."""
  out = np.full((len(lengths), positions), END, np.int32)
  cols = np.arange(positions)[None, :]
  take = min(digits.shape[1], positions)
  out[:, :take] = np.where(cols[:, :take] < lengths[:, None], digits[:, :take], END)
  return out


def _bilinear(rows: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
  """rows [B, H, W] float sampled at y [B, P, 1], x [B, 1, Q] (zero outside) -> [B, P, Q]."""
  b, h, w = rows.shape
  y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
  fy, fx = y - y0, x - x0
  bi = np.arange(b)[:, None, None]

  def at(yy, xx):
    inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    return np.where(inside, rows[bi, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0)

  return ((1 - fy) * (1 - fx) * at(y0, x0) + (1 - fy) * fx * at(y0, x0 + 1)
          + fy * (1 - fx) * at(y0 + 1, x0) + fy * fx * at(y0 + 1, x0 + 1))


def resample_boxes(rows: np.ndarray, boxes: np.ndarray, size: int, supersample: int = 2
                   ) -> np.ndarray:
  """Each image's box (top, left, height, width; float) resampled to size x size.

  Bilinear at supersample^2 points per output pixel, averaged (a box filter against aliasing
  when the box is larger than the output). Outside the image is 0.
  """
  rows = rows.astype(np.float32)
  s = supersample
  grid = (np.arange(size * s) + 0.5) / (size * s)  # Sample centres in [0, 1].
  top, left, height, width = (boxes[:, k, None] for k in range(4))
  y = (top + grid[None, :] * height - 0.5)[:, :, None]
  x = (left + grid[None, :] * width - 0.5)[:, None, :]
  out = _bilinear(rows, y, x)
  return out.reshape(len(rows), size, s, size, s).mean((2, 4))


def ink_boxes(images: np.ndarray) -> np.ndarray:
  """float [B, 4] (top, left, height, width) of the nonzero pixels of each image [B, H, W]."""
  on_rows, on_cols = images.any(2), images.any(1)
  top = on_rows.argmax(1)
  bottom = images.shape[1] - on_rows[:, ::-1].argmax(1)
  left = on_cols.argmax(1)
  right = images.shape[2] - on_cols[:, ::-1].argmax(1)
  return np.stack([top, left, bottom - top, right - left], 1).astype(np.float64)


def expand_boxes(boxes: np.ndarray, fraction: float) -> np.ndarray:
  """Boxes grown by `fraction` of their size in both directions, about their centres."""
  top, left, height, width = boxes.T
  grow_h, grow_w = height * fraction, width * fraction
  return np.stack([top - grow_h / 2, left - grow_w / 2, height + grow_h, width + grow_w], 1)


def crop(images: np.ndarray, top: np.ndarray, left: np.ndarray, size: int) -> np.ndarray:
  """images [B, H, W] -> [B, size, size] cut at per-image (top, left)."""
  rows = (top[:, None] + np.arange(size))[:, :, None]
  cols = (left[:, None] + np.arange(size))[:, None, :]
  return images[np.arange(len(images))[:, None, None], rows, cols]


def crop_offsets(bits: np.ndarray, train: bool, canvas: int, size: int):
  """(top, left) of the crop: uniform in training, the centre in evaluation."""
  if not train:
    centre = np.full(len(bits), (canvas - size) // 2, np.int64)
    return centre, centre
  return (canvas_lib.random_ints(bits[:, 0], canvas - size + 1),
          canvas_lib.random_ints(bits[:, 1], canvas - size + 1))


def add_clutter(images: np.ndarray, pool: np.ndarray, bits: np.ndarray, num: int, size: int,
                exclude: np.ndarray) -> None:
  """Pastes `num` random size x size crops of pool digits (never `exclude`) by maximum."""
  side = images.shape[1]
  for k in range(num):
    d = bits[:, 5 * k:5 * k + 5]
    other = canvas_lib.random_ints(d[:, 0], len(pool) - 1)
    other = np.where(other >= exclude, other + 1, other)
    cy = canvas_lib.random_ints(d[:, 1], 28 - size + 1)
    cx = canvas_lib.random_ints(d[:, 2], 28 - size + 1)
    piece = crop(pool[other], cy, cx, size)
    top = canvas_lib.random_ints(d[:, 3], side - size + 1)
    left = canvas_lib.random_ints(d[:, 4], side - size + 1)
    canvas_lib.paste_max(images, piece, top, left)


def multidigit(digits: digits_lib.Digits, index: np.ndarray, data_config, *, seed: int,
               stream: int, epoch: int, train: bool) -> dict[str, np.ndarray]:
  """A batch of multi-digit MNIST examples (module docstring), deterministic in the inputs."""
  d = data_config
  n_max, b = d.max_digits, len(index)
  lo, hi = d.spacing
  jitter = d.vertical_jitter
  draws = 1 + (n_max - 1) + 2 * n_max + 2 + 5 * d.num_clutter
  bits = canvas_lib.random_bits(seed, stream, epoch, index, draws)
  length = d.min_digits + canvas_lib.random_ints(bits[:, 0], n_max - d.min_digits + 1)
  others = canvas_lib.random_ints(bits[:, 1:n_max], len(digits))
  which = np.concatenate([index[:, None], others], 1)  # [B, n_max] digit indices.
  shift = lo + canvas_lib.random_ints(bits[:, n_max:2 * n_max], hi - lo + 1)
  shift[:, 0] = 0
  drop = canvas_lib.random_ints(bits[:, 2 * n_max:3 * n_max], 2 * jitter + 1)
  x = np.cumsum(shift, 1)
  row = np.zeros((b, 28 + 2 * jitter, 28 + hi * (n_max - 1)), np.uint8)
  for k in range(n_max):
    ink = digits.images[which[:, k]] * (k < length)[:, None, None].astype(np.uint8)
    canvas_lib.paste_max(row, ink, drop[:, k], x[:, k])
  boxes = expand_boxes(ink_boxes(row), d.box_expand)
  image = np.clip(np.rint(resample_boxes(row, boxes, d.canvas_size)), 0, 255).astype(np.uint8)
  k = 3 * n_max
  if d.num_clutter:
    add_clutter(image, digits.images, bits[:, k + 2:], d.num_clutter, d.clutter_size, index)
  if d.crop_size is not None:
    top, left = crop_offsets(bits[:, k:k + 2], train, d.canvas_size, d.crop_size)
    image = crop(image, top, left, d.crop_size)
  labels = pad_labels(digits.labels[which], length, sequence_length(d))
  return {"image": image, "label": labels, "length": length.astype(np.int32)}


def pairs(digits: digits_lib.Digits, index: np.ndarray, data_config, *, seed: int,
          stream: int, epoch: int, train: bool) -> dict[str, np.ndarray]:
  """A batch of MNIST pairs: two digits, non-overlapping where 16 candidate places allow.

  Labels: both digits left to right (mnist_pairs), or their sum (mnist_addition, [B, 1]).
  """
  del train  # The same task in training and evaluation: no crop.
  d, b = data_config, len(index)
  tries = 16
  bits = canvas_lib.random_bits(seed, stream, epoch, index, 3 + 2 * tries + 5 * d.num_clutter)
  span = d.canvas_size - 28 + 1
  other = canvas_lib.random_ints(bits[:, 0], len(digits) - 1)
  other = np.where(other >= index, other + 1, other)
  y0, x0 = canvas_lib.random_ints(bits[:, 1], span), canvas_lib.random_ints(bits[:, 2], span)
  ys = canvas_lib.random_ints(bits[:, 3:3 + tries], span)
  xs = canvas_lib.random_ints(bits[:, 3 + tries:3 + 2 * tries], span)
  apart = (np.abs(ys - y0[:, None]) >= 28) | (np.abs(xs - x0[:, None]) >= 28)
  # The first candidate clear of the first digit (the first candidate if none is).
  pick = np.where(apart.any(1), apart.argmax(1), 0)
  y1, x1 = ys[np.arange(b), pick], xs[np.arange(b), pick]
  image = np.zeros((b, d.canvas_size, d.canvas_size), np.uint8)
  canvas_lib.paste_max(image, digits.images[index], y0, x0)
  canvas_lib.paste_max(image, digits.images[other], y1, x1)
  if d.num_clutter:
    add_clutter(image, digits.images, bits[:, 3 + 2 * tries:], d.num_clutter, d.clutter_size,
                index)
  a, c = digits.labels[index], digits.labels[other]
  if d.dataset == "mnist_addition":
    return {"image": image, "label": (a + c)[:, None].astype(np.int32),
            "length": np.ones(b, np.int32)}
  first_left = (x0 < x1) | ((x0 == x1) & (y0 <= y1))
  labels = np.stack([np.where(first_left, a, c), np.where(first_left, c, a)], 1)
  return {"image": image, "label": labels.astype(np.int32),
          "length": np.full(b, 2, np.int32)}


# ---------------------------------------------------------------------------------------------
# SVHN format 1.


@dataclasses.dataclass(frozen=True)
class SvhnRecord:
  name: str
  # Per digit, in the file's order (left to right): digit 0-9 (10 already mapped to 0).
  labels: tuple[int, ...]
  # Per digit: (top, left, height, width) in pixels.
  boxes: tuple[tuple[float, float, float, float], ...]


def read_digit_struct(path: str) -> list[SvhnRecord]:
  """Every record of a `digitStruct.mat` (MATLAB v7.3), both field layouts (module docstring)."""
  import h5py  # Only SVHN needs it.

  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} does not exist. SVHN format 1 ships train.tar.gz, extra.tar.gz and "
        "test.tar.gz; each unpacks to a folder of PNGs with its digitStruct.mat.")
  records = []
  with h5py.File(path, "r") as f:
    if "digitStruct" not in f:
      raise ValueError(f"{path} has no /digitStruct group: not an SVHN format 1 file.")
    group = f["digitStruct"]
    names, bboxes = group["name"][()].reshape(-1), group["bbox"][()].reshape(-1)
    if len(names) != len(bboxes):
      raise ValueError(f"{path}: {len(names)} names but {len(bboxes)} bbox records.")

    def field(box, key):
      ds = box[key]
      if h5py.check_dtype(ref=ds.dtype) is not None:  # Several digits: references.
        return [float(np.asarray(f[r]).reshape(-1)[0]) for r in ds[()].reshape(-1)]
      return [float(v) for v in np.asarray(ds).reshape(-1)]

    for name_ref, box_ref in zip(names, bboxes, strict=True):
      name = "".join(chr(int(c)) for c in np.asarray(f[name_ref]).reshape(-1))
      box = f[box_ref]
      values = {k: field(box, k) for k in ("label", "top", "left", "height", "width")}
      if len({len(v) for v in values.values()}) != 1:
        raise ValueError(f"{path}: record {name!r} has fields of different lengths.")
      labels = tuple(0 if int(v) == 10 else int(v) for v in values["label"])
      boxes = tuple(zip(values["top"], values["left"], values["height"], values["width"],
                        strict=True))
      records.append(SvhnRecord(name, labels, boxes))
  return records


def goodfellow_crop(image, boxes, *, expand: float = 0.3, size: int = 64) -> np.ndarray:
  """uint8 [size, size] grayscale of the union of the digit boxes grown by `expand` (30%).

  Goodfellow et al. 2014, Sec. 5.1: the union box, expanded by 30% in both directions, cut
  and resized (not aspect-preserving) to 64x64; outside the photo counts as black.
  """
  from PIL import Image

  b = np.asarray(boxes, np.float64)
  top, left = b[:, 0].min(), b[:, 1].min()
  bottom, right = (b[:, 0] + b[:, 2]).max(), (b[:, 1] + b[:, 3]).max()
  (top, left, height, width), = expand_boxes(
      np.array([[top, left, bottom - top, right - left]]), expand)
  gray = image.convert("L")
  cut = gray.crop((int(round(left)), int(round(top)), int(round(left + width)),
                   int(round(top + height))))
  return np.asarray(cut.resize((size, size), Image.BILINEAR), np.uint8)


def prepare_svhn(root: str, out: str, split: str, *, size: int = 64) -> str:
  """Writes `<out>/svhn_<split>.npz` (image uint8 [N, 64, 64], label [N, 6], length [N])
  from `<root>/<split>/digitStruct.mat` and its PNGs; returns the path."""
  from PIL import Image

  folder = os.path.join(root, split)
  records = read_digit_struct(os.path.join(folder, "digitStruct.mat"))
  keep = [r for r in records if 1 <= len(r.labels) <= SVHN_MAX_DIGITS]
  images = np.zeros((len(keep), size, size), np.uint8)
  for i, r in enumerate(keep):
    with Image.open(os.path.join(folder, r.name)) as im:
      images[i] = goodfellow_crop(im, r.boxes, size=size)
  lengths = np.array([len(r.labels) for r in keep], np.int32)
  digits = np.zeros((len(keep), SVHN_MAX_DIGITS), np.int32)
  for i, r in enumerate(keep):
    digits[i, :len(r.labels)] = r.labels
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, f"svhn_{split}.npz")
  np.savez(path, image=images, label=pad_labels(digits, lengths, SVHN_MAX_DIGITS + 1),
           length=lengths, dropped=len(records) - len(keep))
  return path


def load_svhn(data_config, split: str) -> dict[str, np.ndarray]:
  """The prepared arrays of our split (module docstring): train + extra less validation."""
  root = os.path.expanduser(data_config.root)

  def read(name):
    path = os.path.join(root, f"svhn_{name}.npz")
    if not os.path.exists(path):
      raise FileNotFoundError(
          f"{path} does not exist. Prepare SVHN format 1 once (train, extra and test folders "
          f"under <svhn>): python -m attn_rl.tools.prepare_svhn --root=<svhn> --out={root}")
    with np.load(path) as z:
      return {k: z[k] for k in ("image", "label", "length")}

  if split == "test":
    arrays = read("test")
  else:
    parts = [read("train")] + ([read("extra")] if data_config.use_extra else [])
    full = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    idx = splits.carve(len(full["label"]), data_config.num_validation, split)
    arrays = {k: v[idx] for k, v in full.items()}
  if arrays["label"].shape[1] != sequence_length(data_config):
    raise ValueError(f"{root}: labels have {arrays['label'].shape[1]} positions; "
                     f"data.max_digits={data_config.max_digits} needs "
                     f"{sequence_length(data_config)}. Set data.max_digits={SVHN_MAX_DIGITS}.")
  limit = data_config.limit_train if split == "train" else data_config.limit_eval
  return {k: v[:limit] for k, v in arrays.items()} if limit else arrays


def svhn_fetch(arrays, data_config, *, seed: int, stream: int, epoch: int, train: bool):
  def fetch(index):
    bits = canvas_lib.random_bits(seed, stream, epoch, index, 2)
    top, left = crop_offsets(bits, train, data_config.canvas_size, data_config.crop_size)
    return {"image": crop(arrays["image"][index], top, left, data_config.crop_size),
            "label": arrays["label"][index], "length": arrays["length"][index]}
  return fetch


# ---------------------------------------------------------------------------------------------
# Batches.


def _mnist(data_config, split: str) -> digits_lib.Digits:
  d = data_config
  source = types.SimpleNamespace(source=d.source, dataset="mnist", tfds_data_dir=d.tfds_data_dir,
                                 num_validation=d.num_validation, limit_train=d.limit_train,
                                 limit_eval=d.limit_eval)
  return digits_lib.load_digits(source, split)


def make_fetch(data_config, split: str, *, seed: int):
  """(fetch(index, epoch) -> batch, number of examples) of a split."""
  train = split == "train"
  stream = splits.STREAMS[split]
  seed = seed if train else EVAL_SEED
  if data_config.dataset == "svhn":
    arrays = load_svhn(data_config, split)
    fetch = lambda index, epoch: svhn_fetch(arrays, data_config, seed=seed, stream=stream,
                                            epoch=epoch, train=train)(index)
    return fetch, len(arrays["label"])
  digits = _mnist(data_config, split)
  make = multidigit if data_config.dataset == "multidigit_mnist" else pairs
  fetch = lambda index, epoch: make(digits, index, data_config, seed=seed, stream=stream,
                                    epoch=epoch, train=train)
  return fetch, len(digits)


def make_batches(data_config, split: str, *, seed, global_batch: int, process_index=0,
                 process_count=1):
  """(batches, number of examples), as `pipeline.make_batches` documents."""
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  if split == "train":
    seeds = [seed] if isinstance(seed, int) else list(seed)
    per_seed = []
    for s in seeds:
      fetch, n = make_fetch(data_config, split, seed=s)
      per_seed.append(batching.TrainBatches(fetch, n, seed=s, **proc))
    return (per_seed[0] if isinstance(seed, int) else batching.SeedStack(per_seed)), n
  fetch, n = make_fetch(data_config, split, seed=0)
  return batching.EvalBatches(lambda index: fetch(index, 0), n, cache=True, **proc), n
