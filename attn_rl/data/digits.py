"""Digit sources: decode a tfds split once into memory, or make a synthetic stand-in.

Splits (`splits.py`): tfds `mnist` has `train` (60,000) and `test` (10,000); `validation` is
10,000 records carved from `train` by a fixed permutation, `train` the other 50,000.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from attn_rl.data import splits
from attn_rl.data.splits import DatasetNotFoundError


@dataclasses.dataclass(frozen=True)
class Digits:
  """Decoded digits of one split, kept in host memory.

  Attributes:
    images: uint8 [N, H, W].
    labels: int32 [N].
  """

  images: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)


def _read_tfds_split(name: str, split: str, data_dir: str) -> Digits:
  import tensorflow_datasets as tfds  # Heavy import; only the tfds path pays for it.

  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    raise DatasetNotFoundError(
        f"tfds dataset {name!r} is not prepared under {data_dir!r} "
        f"(looked for {builder.data_dir}). Point TFDS_DATA_DIR (or --config.data.tfds_data_dir) "
        "at a directory holding it in ArrayRecord format, e.g. on this project's machines\n"
        "  export TFDS_DATA_DIR=../shared/data/tensorflow_datasets\n"
        f"or prepare it where downloads work: tfds build {name} --file_format=array_record "
        f"--data_dir={data_dir}"
    )
  images, labels = [], []
  chunk = 4096
  try:
    source = builder.as_data_source(split=split)
    # One batched read per chunk: a single thread decodes fastest on small machines.
    for start in range(0, len(source), chunk):
      records = source.__getitems__(list(range(start, min(start + chunk, len(source)))))
      images.extend(r["image"] for r in records)
      labels.extend(int(r["label"]) for r in records)
  except Exception as e:  # noqa: BLE001 (Riegeli, decoding, I/O: any damage names the files)
    raise splits.corrupt_error(builder, split, e) from e
  images = np.stack(images)
  if images.ndim == 4:
    if images.shape[-1] != 1:
      raise ValueError(f"{name!r} has {images.shape[-1]} channels; attn_rl's digit tasks need 1.")
    images = images[..., 0]
  return Digits(images.astype(np.uint8), np.asarray(labels, np.int32))


def synthetic_digits(num: int, *, seed: int, size: int = 28, num_classes: int = 10) -> Digits:
  """A learnable stand-in for MNIST used by tests and benchmarks (no dataset needed).

  Each class is a fixed random stroke pattern in the centre 20x20 of a `size` square; examples
  are their class pattern with random pixel dropout, so a model can learn them, but only by
  looking at the right place once they are translated into a canvas.
  """
  rng = np.random.default_rng(seed)
  templates = np.zeros((num_classes, size, size), np.uint8)
  lo, hi = size // 2 - 10, size // 2 + 10
  pattern_rng = np.random.default_rng(1234)  # Class patterns are the same for every seed.
  templates[:, lo:hi, lo:hi] = (pattern_rng.random((num_classes, hi - lo, hi - lo)) < 0.3) * 255
  labels = rng.integers(0, num_classes, size=num).astype(np.int32)
  keep = rng.random((num, size, size)) < 0.85
  return Digits((templates[labels] * keep).astype(np.uint8), labels)


def load_digits(data_config, split: str) -> Digits:
  """Decoded digits of `split` in {'train', 'validation', 'test'} (see module docstring)."""
  if split not in splits.SPLITS:
    raise ValueError(f"split must be one of {splits.SPLITS}, got {split!r}")
  if data_config.source == "synthetic":
    seed = {"train": 0, "validation": 1, "test": 2}[split]
    num = {"train": 2048, "validation": 512, "test": 512}[split]
    digits = synthetic_digits(num, seed=seed)
  elif data_config.source == "tfds":
    data_dir = splits.resolve_data_dir(data_config.tfds_data_dir)
    if split == "test":
      digits = _read_tfds_split(data_config.dataset, "test", data_dir)
    else:
      full = _read_tfds_split(data_config.dataset, "train", data_dir)
      idx = splits.carve(len(full), data_config.num_validation, split)
      digits = Digits(full.images[idx], full.labels[idx])
  else:
    raise ValueError(f"data.source must be 'tfds' or 'synthetic', got {data_config.source!r}")
  limit = data_config.limit_train if split == "train" else data_config.limit_eval
  if limit:
    digits = Digits(digits.images[:limit], digits.labels[:limit])
  return digits
