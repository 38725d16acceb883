"""The `data` config group and its checks: digit canvases and natural-image datasets.

Light (ml_collections only), like `core/config.py`, so config files import it cheaply.
"""

from __future__ import annotations

import ml_collections

from attn_rl.core import config as config_lib

# Canvas tasks (data/canvas.py). Repeated here so that config files need not import NumPy code.
TASKS = ("plain", "translated", "cluttered")
# tfds names read as natural images (data/images.py); every other name is a digit dataset.
IMAGE_DATASETS = ("cifar10", "imagenet2012")


def digits(*, natural_images: bool = False) -> ml_collections.ConfigDict:
  """The data group of digit canvases (and, with natural_images, of CIFAR-10 and ImageNet)."""
  d = ml_collections.ConfigDict()
  # 'tfds' reads a prepared tfds dataset; 'synthetic' makes learnable fake data (tests).
  d.source = "tfds"
  # tfds dataset name.
  d.dataset = "mnist"
  # tfds data dir; None means $TFDS_DATA_DIR, then ~/tensorflow_datasets.
  d.tfds_data_dir = None
  # 'plain' (28x28), 'translated' or 'cluttered'.
  d.task = "plain"
  # Side of the square canvas of 'translated' and 'cluttered'.
  d.canvas_size = 28
  # Clutter pieces per image ('cluttered' only).
  d.num_clutter = 0
  # Side of each clutter piece.
  d.clutter_size = 8
  # Training images held out as the validation split (model selection).
  d.num_validation = 10000
  # If set, use only the first N training images (quick runs).
  d.limit_train = None
  # If set, use only the first N validation and test images (quick runs).
  d.limit_eval = None
  # Batches prepared ahead of the device step.
  d.prefetch = 4
  if natural_images:
    # Natural images (attn_rl/data/images.py): side of the network's input.
    d.image_size = 32
    # Natural images: side of the synthetic stand-in images (data.source='synthetic').
    d.stored_size = 32
  return d


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid `data` group."""
  d = c.data
  config_lib.one_of(d.source, ("tfds", "synthetic"), "data.source")
  config_lib.one_of(d.task, TASKS, "data.task")
  if d.dataset in IMAGE_DATASETS:
    config_lib.positive(c, "data.image_size")
    if d.source == "synthetic" and d.stored_size < d.image_size:
      raise ValueError(f"data.stored_size={d.stored_size} is smaller than data.image_size="
                       f"{d.image_size}.")
    return
  if d.task == "plain" and d.canvas_size != 28:
    raise ValueError("data.task='plain' uses the 28x28 digit: set data.canvas_size=28.")
  if d.task != "plain" and d.canvas_size < 28:
    raise ValueError(f"data.canvas_size={d.canvas_size} is smaller than a 28x28 digit.")
  if d.task == "cluttered" and not 0 < d.clutter_size <= 28:
    raise ValueError(f"data.clutter_size={d.clutter_size} must be in [1, 28].")
  if d.task == "cluttered" and d.num_clutter < 1:
    raise ValueError("data.task='cluttered' needs data.num_clutter >= 1.")
