"""Videos as feature cubes: our cube folders, kracwarlock's HDF5 layout, clips and batches.

A video is a run of frames; each frame is a feature cube X_t of K x K slices of D features
(the last conv layer of a frame CNN: GoogLeNet's inception_5b gives 7 x 7 x 1024). Every
layout stores the frames of a split's videos one after another, with each video's frame count:

  folder       (ours; `tools/extract_cubes.py` writes it) <root>/<split>/ with
                 cubes.npy    float16/32 [total frames, K, K, D] (memory-mapped: any size)
                 lengths.npy  int64 [videos]: frames per video, in order
                 labels.npy   int32 [videos] (single label) or uint8/float [videos, C]
                              (multi-label, multi-hot)
                 meta.json    {"num_classes": C, "multilabel": bool, "names": [video names]
                              (optional), anything else the writer records}
               for split in train, validation, test.
  kracwarlock  the layout of Sharma et al.'s released code
               (kracwarlock/action-recognition-visual-attention, util/README.md): <root>/
                 <split>_features.h5   HDF5 dataset `features`, float32 [total frames,
                                       K*K*D], each row one frame's cube flattened
                 <split>_framenum.txt  frames per video, one per line
                 <split>_filename.txt  video names, one per line
                 <split>_labels.txt    one class per line, or a comma-separated multi-hot row
               for split in train, valid, test. Their files were written by MATLAB, so a row
               unflattens in Fortran order (`order='F'`: feature d of slice i at i + K*K*d);
               files written from NumPy need `order='C'` (i*D + d). `data.order` says which:
               there is no way to tell from the file.

Clips (as kracwarlock's data handler cuts them): a clip is `clip_frames` frames `frame_skip`
apart; a video of n frames gives clips starting at 0, `clip_stride`, ... up to
n - clip_frames * frame_skip (at least one clip); a clip running past the video repeats its
last frame. Training samples clips; evaluation scores every clip and also each video as a
whole (`video` in the batch: the evaluator averages its clips, core/evaluators/video.py).

Validation: the folder layout and kracwarlock's `valid` files are read as given. HMDB-51 has
no validation split (Sharma et al.'s released HMDB scripts selected models on test): with
`data.validation='carve'`, `data.num_validation` training videos chosen by a fixed
permutation (`splits.carve`) become the validation split, so the test split is read only
once, at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from attn_rl.data import batching, splits
from attn_rl.data.config import VIDEO_DATASET as DATASET  # noqa: F401 (re-exported)
from attn_rl.data.config import VIDEO_LAYOUTS as LAYOUTS  # noqa: F401 (re-exported)

# kracwarlock's file prefix of each of our splits.
KRACWARLOCK_SPLITS = {"train": "train", "validation": "valid", "test": "test"}


@dataclasses.dataclass
class Videos:
  """The videos of one split.

  Attributes:
    frames: [total frames, K, K, D] array-like (a memory map, an HDF5 dataset wrapper or an
      array), indexed by a sorted integer array.
    starts: int64 [N] first frame of each video; lengths int64 [N] its frame count.
    labels: float32 [N, C] multi-hot (single-label videos: one-hot).
    multilabel: whether a video may have several labels.
    names: N video names ('' when the layout has none).
  """

  frames: object
  starts: np.ndarray
  lengths: np.ndarray
  labels: np.ndarray
  multilabel: bool
  names: list[str]

  def __len__(self) -> int:
    return len(self.lengths)

  @property
  def num_classes(self) -> int:
    return self.labels.shape[1]

  def subset(self, index: np.ndarray) -> Videos:
    """The videos at `index` (their frames stay where they are)."""
    return Videos(self.frames, self.starts[index], self.lengths[index], self.labels[index],
                  self.multilabel, [self.names[i] for i in index])


class _Unflatten:
  """Rows [n, K*K*D] of an HDF5 dataset read as cubes [n, K, K, D] in a given order."""

  def __init__(self, dataset, grid: int, order: str):
    row = dataset.shape[1]
    if row % (grid * grid):
      raise ValueError(f"Rows of {row} features do not split into {grid}x{grid} slices: set "
                       "data.grid to the cube's side K (GoogLeNet inception_5b: 7).")
    self.dataset, self.grid, self.order = dataset, grid, order
    self.depth = row // (grid * grid)
    self.shape = (dataset.shape[0], grid, grid, self.depth)

  def __getitem__(self, rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows)
    unique, inverse = np.unique(rows, return_inverse=True)  # h5py wants increasing indices.
    flat = np.asarray(self.dataset[unique], np.float32)[inverse]
    if self.order == "F":  # Feature d of slice i at i + K*K*d (MATLAB's column-major).
      cubes = flat.reshape(len(rows), self.depth, self.grid * self.grid).transpose(0, 2, 1)
    else:
      cubes = flat.reshape(len(rows), self.grid * self.grid, self.depth)
    return cubes.reshape(len(rows), self.grid, self.grid, self.depth)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
  out = np.zeros((len(labels), num_classes), np.float32)
  out[np.arange(len(labels)), labels] = 1.0
  return out


def _check_frames(frames_shape, lengths: np.ndarray, where: str) -> None:
  if np.any(lengths < 1):
    raise ValueError(f"{where}: video {int(np.argmin(lengths))} has no frames.")
  if int(lengths.sum()) != frames_shape[0]:
    raise ValueError(f"{where}: the frame counts add up to {int(lengths.sum())} but the cubes "
                     f"hold {frames_shape[0]} frames: the files do not belong together.")


def read_folder(root: str, split: str) -> Videos:
  """A split of the cube-folder layout (module docstring)."""
  folder = os.path.join(os.path.expanduser(root), split)
  needed = ("cubes.npy", "lengths.npy", "labels.npy", "meta.json")
  missing = [n for n in needed if not os.path.exists(os.path.join(folder, n))]
  if missing:
    raise splits.DatasetNotFoundError(
        f"{folder} lacks {', '.join(missing)}: data.root must hold train/, validation/ and "
        "test/ cube folders, as `python -m attn_rl.tools.extract_cubes` writes them.")
  meta = json.loads(open(os.path.join(folder, "meta.json")).read())
  frames = np.load(os.path.join(folder, "cubes.npy"), mmap_mode="r")
  if frames.ndim != 4 or frames.shape[1] != frames.shape[2]:
    raise ValueError(f"{folder}/cubes.npy has shape {frames.shape}; expected [frames, K, K, D].")
  lengths = np.load(os.path.join(folder, "lengths.npy")).astype(np.int64)
  _check_frames(frames.shape, lengths, folder)
  raw = np.load(os.path.join(folder, "labels.npy"))
  c = int(meta["num_classes"])
  multilabel = bool(meta["multilabel"])
  if len(raw) != len(lengths):
    raise ValueError(f"{folder}: {len(raw)} labels for {len(lengths)} videos.")
  if multilabel != (raw.ndim == 2) or (raw.ndim == 2 and raw.shape[1] != c):
    raise ValueError(f"{folder}: labels of shape {raw.shape} do not match meta.json "
                     f"(multilabel={multilabel}, num_classes={c}).")
  labels = raw.astype(np.float32) if multilabel else _one_hot(raw.astype(np.int64), c)
  names = meta.get("names") or [""] * len(lengths)
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
  return Videos(frames, starts, lengths, labels, multilabel, list(names))


def write_folder(root: str, split: str, cubes: np.ndarray, lengths: np.ndarray,
                 labels: np.ndarray, *, num_classes: int, names=None, **meta) -> str:
  """Writes one split of the folder layout; returns its folder. `labels` int [N] or
  multi-hot [N, C]; `cubes` [total frames, K, K, D] (any float dtype; float16 halves the
  size)."""
  folder = os.path.join(os.path.expanduser(root), split)
  os.makedirs(folder, exist_ok=True)
  _check_frames(cubes.shape, np.asarray(lengths), folder)
  np.save(os.path.join(folder, "cubes.npy"), cubes)
  np.save(os.path.join(folder, "lengths.npy"), np.asarray(lengths, np.int64))
  labels = np.asarray(labels)
  np.save(os.path.join(folder, "labels.npy"), labels)
  record = {"num_classes": int(num_classes), "multilabel": bool(labels.ndim == 2),
            "names": list(names) if names is not None else None, **meta}
  with open(os.path.join(folder, "meta.json"), "w") as f:
    json.dump(record, f, indent=1)
  return folder


def read_kracwarlock(root: str, split: str, *, grid: int, order: str,
                     num_classes: int | None = None) -> Videos:
  """A split of kracwarlock's layout (module docstring); `split` is ours (train, validation,
  test). Single-label files do not say how many classes there are: give `num_classes`
  (HMDB-51: 51); multi-label rows have one column per class."""
  import h5py  # Only this layout needs it.

  prefix = os.path.join(os.path.expanduser(root), KRACWARLOCK_SPLITS[split])
  paths = {k: f"{prefix}_{k}" for k in ("features.h5", "framenum.txt", "filename.txt",
                                        "labels.txt")}
  missing = [p for p in paths.values() if not os.path.exists(p)]
  if missing:
    raise splits.DatasetNotFoundError(
        f"Missing {', '.join(missing)}: data.root must hold kracwarlock's {prefix}_* files "
        "(features.h5, framenum.txt, filename.txt, labels.txt).")
  if order not in ("F", "C"):
    raise ValueError(f"data.order={order!r} must be 'F' (files written by MATLAB, as the "
                     "released ones) or 'C' (written from NumPy).")
  lengths = np.loadtxt(paths["framenum.txt"], dtype=np.int64, ndmin=1)
  names = [line.strip() for line in open(paths["filename.txt"]) if line.strip()]
  rows = [line.strip() for line in open(paths["labels.txt"]) if line.strip()]
  multilabel = "," in rows[0]
  if multilabel:
    labels = np.array([[float(v) for v in r.split(",")] for r in rows], np.float32)
  else:
    ints = np.array([int(r) for r in rows], np.int64)
    labels = ints  # One-hot once the class count is known (below).
  if not len(lengths) == len(names) == len(rows):
    raise ValueError(f"{prefix}_*: {len(lengths)} frame counts, {len(names)} names and "
                     f"{len(rows)} labels: one line per video in each.")
  h5 = h5py.File(paths["features.h5"], "r")
  if "features" not in h5:
    raise ValueError(f"{paths['features.h5']} has no dataset 'features' (has {list(h5)}).")
  frames = _Unflatten(h5["features"], grid, order)
  _check_frames(frames.shape, lengths, paths["features.h5"])
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
  if not multilabel:
    if num_classes is None:
      raise ValueError(f"{paths['labels.txt']} holds single labels: set data.num_classes to the "
                       "dataset's class count (HMDB-51: 51).")
    if labels.min() < 0 or labels.max() >= num_classes:
      raise ValueError(f"{paths['labels.txt']} has labels in [{labels.min()}, {labels.max()}], "
                       f"outside [0, data.num_classes={num_classes}).")
    labels = _one_hot(labels, num_classes)
  elif num_classes is not None and labels.shape[1] != num_classes:
    raise ValueError(f"{paths['labels.txt']} rows have {labels.shape[1]} classes, "
                     f"data.num_classes={num_classes}.")
  return Videos(frames, starts, lengths, labels, multilabel, names)


def synthetic_videos(num: int, *, seed: int, num_frames: int = 8, grid: int = 4,
                     depth: int = 6, num_classes: int = 4, multilabel: bool = False) -> Videos:
  """A learnable stand-in (tests, quicktests): class c's videos carry a fixed pattern in
  one slice that moves one step per frame along a random row; the other slices are noise."""
  rng = np.random.default_rng(seed)
  patterns = np.random.default_rng(7).normal(size=(num_classes, depth)).astype(np.float32)
  cubes = rng.normal(scale=0.3, size=(num, num_frames, grid, grid, depth)).astype(np.float32)
  labels = np.zeros((num, num_classes), np.float32)
  for v in range(num):
    classes = (rng.choice(num_classes, size=2, replace=False) if multilabel
               else [rng.integers(num_classes)])
    for c in classes:
      row, col = rng.integers(grid, size=2)
      for t in range(num_frames):
        cubes[v, t, row, (col + t) % grid] += 2.0 * patterns[c]
      labels[v, c] = 1.0
  lengths = np.full(num, num_frames, np.int64)
  return Videos(cubes.reshape(num * num_frames, grid, grid, depth),
                np.arange(num, dtype=np.int64) * num_frames, lengths, labels, multilabel,
                [""] * num)


def load_videos(data_config, split: str) -> Videos:
  """The videos of our split 'train', 'validation' or 'test' (module docstring)."""
  d = data_config
  if split not in splits.SPLITS:
    raise ValueError(f"split must be one of {splits.SPLITS}, got {split!r}")
  if d.layout == "synthetic":
    num = {"train": 256, "validation": 64, "test": 64}[split]
    videos = synthetic_videos(num, seed=splits.STREAMS[split], num_frames=d.clip_frames,
                              multilabel=d.multilabel)
  else:
    if not d.root:
      raise ValueError("data.root is empty: point it at the cube folder (or kracwarlock "
                       "files) of the videos.")
    read = (read_folder if d.layout == "folder" else
            lambda root, s: read_kracwarlock(root, s, grid=d.grid, order=d.order,
                                             num_classes=d.num_classes))
    if d.validation == "carve" and split != "test":
      full = read(d.root, "train")
      videos = full.subset(splits.carve(len(full), d.num_validation, split))
    else:
      videos = read(d.root, split)
  if videos.multilabel != bool(d.multilabel):
    raise ValueError(f"{d.root or 'the synthetic videos'} ({split}) are "
                     f"{'multi' if videos.multilabel else 'single'}-label but "
                     f"data.multilabel={d.multilabel}: set --config.data.multilabel="
                     f"{videos.multilabel}.")
  limit = d.limit_train if split == "train" else d.limit_eval
  return videos.subset(np.arange(min(limit, len(videos)))) if limit else videos


def clip_table(lengths: np.ndarray, *, clip_frames: int, clip_stride: int,
               frame_skip: int) -> tuple[np.ndarray, np.ndarray]:
  """(video [M], first frame within the video [M]) of every clip (module docstring)."""
  video, offset = [], []
  span = clip_frames * frame_skip
  for v, n in enumerate(np.asarray(lengths)):
    last = max(int(n) - span + 1, 1)
    starts = np.arange(0, last, clip_stride)
    video.append(np.full(len(starts), v))
    offset.append(starts)
  return np.concatenate(video).astype(np.int64), np.concatenate(offset).astype(np.int64)


def clip_frames(videos: Videos, video: np.ndarray, offset: np.ndarray, *, clip_frames: int,
                frame_skip: int) -> np.ndarray:
  """float32 [B, T, K, K, D]: the clips' cubes; a clip past its video's end repeats the last
  frame it reaches (`frame_skip` apart from the clip's start)."""
  t = np.arange(clip_frames)[None, :] * frame_skip  # [1, T]
  n = videos.lengths[video][:, None]
  last = offset[:, None] + ((n - 1 - offset[:, None]) // frame_skip) * frame_skip
  within = np.minimum(offset[:, None] + t, last)
  rows = (videos.starts[video][:, None] + within).reshape(-1)
  order = np.argsort(rows, kind="stable")  # Memory maps and HDF5 read fastest in order.
  cubes = np.empty((len(rows),) + tuple(videos.frames.shape[1:]), np.float32)
  cubes[order] = np.asarray(videos.frames[rows[order]], np.float32)
  return cubes.reshape((len(video), clip_frames) + cubes.shape[1:])


def label_field(videos: Videos, video: np.ndarray) -> np.ndarray:
  """The batch's `label`: int32 [B] classes (single label) or float32 [B, C] multi-hot."""
  if videos.multilabel:
    return videos.labels[video]
  return videos.labels[video].argmax(1).astype(np.int32)


def make_batches(data_config, split: str, *, seed, global_batch: int, process_index=0,
                 process_count=1):
  """(batches, number of clips), as `pipeline.make_batches` documents.

  Batches: `image` float32 [B, T, K, K, D] (a clip), `label` (`label_field`), `video` int32
  [B] (the clip's video within the split). Training draws clips by the epoch permutation;
  evaluation lists every clip of every video.
  """
  d = data_config
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  videos = load_videos(d, split)
  video, offset = clip_table(videos.lengths, clip_frames=d.clip_frames,
                             clip_stride=d.clip_stride, frame_skip=d.frame_skip)

  def fetch(index, epoch=0):
    del epoch  # Clips carry no augmentation: every epoch reads the same cubes.
    return {"image": clip_frames(videos, video[index], offset[index],
                                 clip_frames=d.clip_frames, frame_skip=d.frame_skip),
            "label": label_field(videos, video[index]),
            "video": video[index].astype(np.int32)}

  if split == "train":
    seeds = [seed] if isinstance(seed, int) else list(seed)
    per_seed = [batching.TrainBatches(fetch, len(video), seed=s, **proc) for s in seeds]
    return (per_seed[0] if isinstance(seed, int) else batching.SeedStack(per_seed)), len(video)
  return batching.EvalBatches(fetch, len(video), cache=d.cache_eval, **proc), len(video)


def cube_shape(data_config) -> tuple[int, ...]:
  """[T, K, K, D] of one clip, read from the split's files (train)."""
  d = data_config
  if d.layout == "synthetic":
    v = synthetic_videos(1, seed=0, num_frames=d.clip_frames, multilabel=d.multilabel)
  else:
    v = load_videos(d, "train")
  return (d.clip_frames,) + tuple(v.frames.shape[1:])


def num_classes(data_config) -> int:
  d = data_config
  if d.layout == "synthetic":
    return synthetic_videos(1, seed=0, num_frames=1, multilabel=d.multilabel).num_classes
  return load_videos(d, "train").num_classes
