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


# Re-identification datasets (data/reid.py): folders as their authors ship them, and the
# offline identity task made from MNIST.
REID_DATASETS = ("market1501", "dukemtmc_reid", "mnist_identities")


def reid() -> ml_collections.ConfigDict:
  """The data group of re-identification (data/reid.py)."""
  d = ml_collections.ConfigDict()
  # 'market1501', 'dukemtmc_reid' (folders) or 'mnist_identities' (the offline task).
  d.dataset = "market1501"
  # 'folder' (the folder datasets), 'tfds' (MNIST for mnist_identities) or 'synthetic'
  # (the identity task on synthetic digits, RGB for a folder dataset: tests and quicktests).
  d.source = "folder"
  # Directory holding Market-1501-v15.09.15/ or DukeMTMC-reID/ (folder datasets).
  d.root = ""
  # Refuse a folder whose image counts differ from the published ones.
  d.check_counts = True
  # tfds data dir of MNIST (mnist_identities); None means $TFDS_DATA_DIR.
  d.tfds_data_dir = None
  # Training identities held out as the validation split (folder datasets).
  d.num_validation = 100
  # mnist_identities: training identities (MNIST train digits).
  d.num_identities = 1000
  # mnist_identities: validation and test identities each.
  d.num_eval_identities = 500
  # mnist_identities: distractor images (pid 0) in each evaluation gallery.
  d.num_distractors = 200
  # mnist_identities: cap on the digits read per split (None: all).
  d.limit_train = None
  # mnist_identities: cap on the evaluation digits read (None: all).
  d.limit_eval = None
  # Network input [height, width] (the paper: 384 x 128).
  d.image_size = [384, 128]
  # Training: zero padding before the random crop back to image_size.
  d.pad = 10
  # Training: horizontal flip probability.
  d.flip_prob = 0.5
  # Training: random erasing probability (Zhong et al. 2020).
  d.erase_prob = 0.5
  # Erased pixels take this per-channel value in [0, 1] (the input mean: 0 once normalised).
  d.erase_fill = [0.485, 0.456, 0.406]
  # PK sampling: identities per batch.
  d.p = 16
  # PK sampling: images per identity.
  d.k = 8
  # Batches prepared ahead of the device step.
  d.prefetch = 4
  return d


def validate_reid(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid re-ID data group."""
  d = c.data
  config_lib.one_of(d.dataset, REID_DATASETS, "data.dataset")
  sources = ("tfds", "synthetic") if d.dataset == "mnist_identities" else ("folder",
                                                                           "synthetic")
  config_lib.one_of(d.source, sources, "data.source")
  if len(d.image_size) != 2:
    raise ValueError(f"data.image_size={d.image_size} must be [height, width].")
  config_lib.positive(c, "data.p", "data.k", "data.num_validation")
  if d.k < 2:
    raise ValueError(f"data.k={d.k}: the triplet loss needs at least 2 images per identity.")
  if c.train.batch_size != d.p * d.k:
    raise ValueError(f"train.batch_size={c.train.batch_size} must equal data.p * data.k = "
                     f"{d.p * d.k}: set one or the other.")
  for key in ("flip_prob", "erase_prob"):
    if not 0.0 <= d[key] <= 1.0:
      raise ValueError(f"data.{key}={d[key]} must be a probability in [0, 1].")
  if d.dataset == "mnist_identities" and d.image_size[0] != d.image_size[1]:
    raise ValueError(f"mnist_identities renders square images: data.image_size="
                     f"{d.image_size} must have equal sides.")
  if (d.dataset == "mnist_identities" or d.source == "synthetic") and min(d.image_size) < 28:
    raise ValueError(f"data.image_size={d.image_size}: the identity task renders 28x28 "
                     "digits; give both sides at least 28.")


# Digit-sequence datasets (data/sequences.py).
SEQUENCE_DATASETS = ("multidigit_mnist", "mnist_pairs", "mnist_addition", "svhn")
# Two digits on a 100x100 canvas: named (pairs) or summed (addition).
TWO_DIGIT_TASKS = ("mnist_pairs", "mnist_addition")


def sequences(dataset: str = "multidigit_mnist") -> ml_collections.ConfigDict:
  """The data group of digit sequences (data/sequences.py): multi-digit MNIST, pairs,
  addition, SVHN."""
  d = ml_collections.ConfigDict()
  # 'multidigit_mnist', 'mnist_pairs', 'mnist_addition' (made from MNIST) or 'svhn' (prepared
  # format 1).
  d.dataset = dataset
  # MNIST tasks: 'tfds' (MNIST) or 'synthetic' (a learnable stand-in: tests); svhn: 'prepared'.
  d.source = "prepared" if dataset == "svhn" else "tfds"
  # tfds data dir of MNIST; None means $TFDS_DATA_DIR.
  d.tfds_data_dir = None
  # svhn: the folder holding svhn_{train,extra,test}.npz (tools/prepare_svhn.py).
  d.root = ""
  # svhn: add SVHN extra to the training images, as Goodfellow et al. and DRAM did.
  d.use_extra = True
  # Training images held out for validation (MNIST: from its train split; svhn: from train
  # + extra), by the fixed permutation of data/splits.py.
  d.num_validation = 10000 if dataset != "svhn" else 6000
  # If set, use only the first N training examples (quick runs).
  d.limit_train = ml_collections.config_dict.placeholder(int)
  # If set, use only the first N validation and test examples.
  d.limit_eval = ml_collections.config_dict.placeholder(int)
  # Most digits in a sequence (pairs and addition: exactly this many).
  d.max_digits = 2 if dataset in TWO_DIGIT_TASKS else 5
  # multidigit_mnist: fewest digits in a sequence.
  d.min_digits = 1
  # Side of the whole image: the Goodfellow crop (64) or the pairs and addition canvas (100).
  d.canvas_size = 100 if dataset in TWO_DIGIT_TASKS else 64
  # Side of the random training crop and centre evaluation crop (None: no crop).
  d.crop_size = ml_collections.config_dict.placeholder(int)
  if dataset not in TWO_DIGIT_TASKS:
    d.crop_size = 54
  # multidigit_mnist: the union box grows by this fraction in both directions.
  d.box_expand = 0.3
  # multidigit_mnist: [min, max] px from one 28x28 digit to the next in the row.
  d.spacing = [16, 22]
  # multidigit_mnist: each digit moves up or down by at most this many px.
  d.vertical_jitter = 3
  # Clutter pieces (crops of other digits) per image; 0: none.
  d.num_clutter = 0
  # Side of each clutter piece.
  d.clutter_size = 8
  # Batches prepared ahead of the device step.
  d.prefetch = 4
  return d


def validate_sequences(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for a digit-sequence data group."""
  d = c.data
  config_lib.one_of(d.dataset, SEQUENCE_DATASETS, "data.dataset")
  sources = ("prepared",) if d.dataset == "svhn" else ("tfds", "synthetic")
  config_lib.one_of(d.source, sources, "data.source")
  config_lib.positive(c, "data.max_digits", "data.canvas_size", "data.num_validation")
  if d.dataset == "svhn" and not d.root:
    raise ValueError("data.root is empty: point it at the folder of svhn_{train,extra,test}.npz "
                     "(python -m attn_rl.tools.prepare_svhn --root=<svhn> --out=<folder>).")
  if d.dataset in TWO_DIGIT_TASKS and d.max_digits != 2:
    raise ValueError(f"data.max_digits={d.max_digits}: {d.dataset} has exactly 2 digits.")
  if d.dataset == "multidigit_mnist" and not 1 <= d.min_digits <= d.max_digits:
    raise ValueError(f"data.min_digits={d.min_digits} must be in [1, data.max_digits="
                     f"{d.max_digits}].")
  if d.dataset in TWO_DIGIT_TASKS and d.canvas_size < 56:
    raise ValueError(f"data.canvas_size={d.canvas_size}: two 28x28 digits need at least 56.")
  if d.crop_size is not None and not 0 < d.crop_size <= d.canvas_size:
    raise ValueError(f"data.crop_size={d.crop_size} must be in [1, data.canvas_size="
                     f"{d.canvas_size}] (or None: no crop).")
  if d.dataset == "multidigit_mnist" and (len(d.spacing) != 2 or not 0 < d.spacing[0]
                                          <= d.spacing[1]):
    raise ValueError(f"data.spacing={d.spacing} must be [min, max] with 0 < min <= max.")
  if d.num_clutter and not 0 < d.clutter_size <= 28:
    raise ValueError(f"data.clutter_size={d.clutter_size} must be in [1, 28].")


# Videos as feature cubes (data/video.py).
VIDEO_DATASET = "video_cubes"
VIDEO_LAYOUTS = ("folder", "kracwarlock", "synthetic")


def video() -> ml_collections.ConfigDict:
  """The data group of videos as feature cubes (data/video.py)."""
  d = ml_collections.ConfigDict()
  # Always 'video_cubes' (the pipeline's switch); `layout` says how they are stored.
  d.dataset = VIDEO_DATASET
  # 'folder' (ours: tools/extract_cubes.py), 'kracwarlock' (Sharma et al.'s HDF5 files) or
  # 'synthetic' (a learnable stand-in made in memory: tests and quicktests).
  d.layout = "folder"
  # The cube folder (train/, validation/, test/) or the folder of kracwarlock's files.
  d.root = ""
  # Whether videos have label sets (scored by mAP) rather than one class each.
  d.multilabel = False
  # kracwarlock, single label: the class count (HMDB-51: 51); None elsewhere (the files say).
  d.num_classes = ml_collections.config_dict.placeholder(int)
  # kracwarlock: side K of the cube each feature row unflattens to (inception_5b: 7).
  d.grid = 7
  # kracwarlock: 'F' for files written by MATLAB (the released ones), 'C' for NumPy's order.
  d.order = "F"
  # 'files': read the layout's validation split; 'carve': hold out `num_validation` training
  # videos by a fixed permutation (HMDB-51 has no validation split).
  d.validation = "files"
  # Training videos held out as validation when validation='carve'.
  d.num_validation = 300
  # Frames per clip T (Sharma et al. and the REINFORCE paper: 30; Moving MNIST: 20).
  d.clip_frames = 30
  # Frames between the starts of consecutive clips of a video.
  d.clip_stride = 1
  # A clip reads every this many frames (kracwarlock: 30 / fps).
  d.frame_skip = 1
  # If set, use only the first N training videos.
  d.limit_train = ml_collections.config_dict.placeholder(int)
  # If set, use only the first N validation and test videos.
  d.limit_eval = ml_collections.config_dict.placeholder(int)
  # Keep the evaluation batches in memory after the first evaluation (small splits only).
  d.cache_eval = False
  # Batches prepared ahead of the device step.
  d.prefetch = 4
  return d


def validate_video(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for a video data group."""
  d = c.data
  config_lib.one_of(d.dataset, (VIDEO_DATASET,), "data.dataset")
  config_lib.one_of(d.layout, VIDEO_LAYOUTS, "data.layout")
  config_lib.one_of(d.validation, ("files", "carve"), "data.validation")
  config_lib.one_of(d.order, ("F", "C"), "data.order")
  config_lib.positive(c, "data.clip_frames", "data.clip_stride", "data.frame_skip", "data.grid")
  if d.layout != "synthetic" and not d.root:
    raise ValueError("data.root is empty: point it at the cube folder (python -m "
                     "attn_rl.tools.extract_cubes writes one) or at kracwarlock's files.")
  if d.validation == "carve":
    config_lib.positive(c, "data.num_validation")
  if d.layout == "kracwarlock" and not d.multilabel and d.num_classes is None:
    raise ValueError("data.layout='kracwarlock' with single labels: set data.num_classes "
                     "(HMDB-51: 51).")
