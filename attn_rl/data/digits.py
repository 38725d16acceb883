"""Digit sources: decode a tfds split once into memory, or make a synthetic stand-in.

Splits. tfds `mnist` has `train` (60,000) and `test` (10,000). We carve the validation
split from `train`: a permutation of the 60,000 training records drawn with the fixed seed
`VALIDATION_SEED` puts its last `data.num_validation` records (default 10,000) into
`validation` and the rest into `train`. The carve does not depend on `config.seed`, so every
run of every seed selects models on the same validation images. `test` is the tfds test split,
scored once at the end of a run.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

# Fixed seed of the train/validation carve; changing it changes every published number.
VALIDATION_SEED = 20140624
SPLITS = ("train", "validation", "test")


class DatasetNotFoundError(FileNotFoundError):
  """The prepared tfds dataset is not where the config and TFDS_DATA_DIR say."""


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


def resolve_data_dir(data_dir: str | None) -> str:
  """The tfds data dir: the config's value, else $TFDS_DATA_DIR, else tfds' default."""
  if data_dir:
    return os.path.expanduser(data_dir)
  if os.environ.get("TFDS_DATA_DIR"):
    return os.path.expanduser(os.environ["TFDS_DATA_DIR"])
  return os.path.expanduser("~/tensorflow_datasets")


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
  source = builder.as_data_source(split=split)
  images, labels = [], []
  chunk = 4096
  # One batched read per chunk: a single thread decodes fastest on small machines.
  for start in range(0, len(source), chunk):
    records = source.__getitems__(list(range(start, min(start + chunk, len(source)))))
    images.extend(r["image"] for r in records)
    labels.extend(int(r["label"]) for r in records)
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
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
  if data_config.source == "synthetic":
    seed = {"train": 0, "validation": 1, "test": 2}[split]
    num = {"train": 2048, "validation": 512, "test": 512}[split]
    digits = synthetic_digits(num, seed=seed)
  elif data_config.source == "tfds":
    data_dir = resolve_data_dir(data_config.tfds_data_dir)
    if split == "test":
      digits = _read_tfds_split(data_config.dataset, "test", data_dir)
    else:
      full = _read_tfds_split(data_config.dataset, "train", data_dir)
      if not 0 < data_config.num_validation < len(full):
        raise ValueError(
            f"data.num_validation={data_config.num_validation} must be in (0, {len(full)})."
        )
      order = np.random.default_rng(VALIDATION_SEED).permutation(len(full))
      cut = len(full) - data_config.num_validation
      idx = np.sort(order[:cut] if split == "train" else order[cut:])
      digits = Digits(full.images[idx], full.labels[idx])
  else:
    raise ValueError(f"data.source must be 'tfds' or 'synthetic', got {data_config.source!r}")
  limit = data_config.limit_train if split == "train" else data_config.limit_eval
  if limit:
    digits = Digits(digits.images[:limit], digits.labels[:limit])
  return digits
