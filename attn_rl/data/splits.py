"""Splits: the fixed train/validation carve shared by every dataset, and where tfds data lives.

tfds datasets have `train` and a held-out split (MNIST and CIFAR-10 `test`, ImageNet
`validation`). We carve our validation split from tfds `train`: a permutation of its records
drawn with the fixed seed `VALIDATION_SEED` puts the last `data.num_validation` records into
`validation` and the rest into `train`. The carve does not depend on `config.seed`, so every run
of every seed selects models on the same images, and model selection never sees the test split,
which is scored once at the end of a run.
"""

from __future__ import annotations

import glob
import os

import numpy as np

# Fixed seed of the train/validation carve; changing it changes every published number.
VALIDATION_SEED = 20140624
SPLITS = ("train", "validation", "test")
# Stream of each split in the counter-based hashes of canvases and augmentation.
STREAMS = {"train": 0, "validation": 1, "test": 2}


class DatasetNotFoundError(FileNotFoundError):
  """The prepared tfds dataset is not where the config and TFDS_DATA_DIR say."""


class DatasetCorruptError(OSError):
  """A prepared tfds split does not read: a truncated or garbled file."""


def corrupt_error(builder, split: str, error: Exception) -> DatasetCorruptError:
  """The error naming the split's files and the fix, for a read that failed with `error`."""
  files = sorted(glob.glob(os.path.join(str(builder.data_dir), f"*-{split}.*")))
  return DatasetCorruptError(
      f"tfds {builder.name!r} split {split!r} does not read ({type(error).__name__}: "
      f"{str(error)[:300]}). One of its files is damaged: {', '.join(files) or builder.data_dir}."
      " Copy them again from a good copy, or rebuild the dataset: tfds build "
      f"{builder.name} --file_format=array_record --data_dir=<dir>.")


def resolve_data_dir(data_dir: str | None) -> str:
  """The tfds data dir: the config's value, else $TFDS_DATA_DIR, else tfds' default."""
  if data_dir:
    return os.path.expanduser(data_dir)
  if os.environ.get("TFDS_DATA_DIR"):
    return os.path.expanduser(os.environ["TFDS_DATA_DIR"])
  return os.path.expanduser("~/tensorflow_datasets")


def carve(num_records: int, num_validation: int, split: str) -> np.ndarray:
  """Sorted record indices of 'train' or 'validation' within tfds `train` (module docstring)."""
  if split not in ("train", "validation"):
    raise ValueError(f"carve() splits tfds train into 'train' and 'validation', got {split!r}.")
  if not 0 < num_validation < num_records:
    raise ValueError(f"data.num_validation={num_validation} must be in (0, {num_records}).")
  order = np.random.default_rng(VALIDATION_SEED).permutation(num_records)
  cut = num_records - num_validation
  return np.sort(order[:cut] if split == "train" else order[cut:])
