"""Person re-identification data: the Market-1501 / DukeMTMC-reID folders, an offline identity
task made from MNIST digit instances, the PK sampler and the re-ID augmentation.

Folder datasets (`data.source='folder'`, `data.root` holding the dataset's folder):
  Market-1501    Market-1501-v15.09.15/{bounding_box_train, query, bounding_box_test}/*.jpg
  DukeMTMC-reID  DukeMTMC-reID/{bounding_box_train, query, bounding_box_test}/*.jpg
File names start `<pid>_c<cam>` (regex `([-\\d]+)_c(\\d)`): pid -1 is junk and dropped, pid 0
is a distractor (kept in the gallery, never a match), cameras are shifted to start at 0. The
counts are checked against the published ones (`KNOWN_COUNTS`) unless `data.check_counts` is
off (a subset for a quick run).

Splits. `train` is bounding_box_train minus `data.num_validation` identities carved by a fixed
permutation (`VALIDATION_SEED`, whatever config.seed is); training identities are relabelled
0..N-1 (sorted by pid). `validation` is the carved identities: per identity and camera its
first image (in the file order) is a query, the rest gallery; it selects the checkpoint.
`test` is query/ against bounding_box_test/, scored once.

Offline identities (`data.dataset='mnist_identities'`; MNIST from tfds, or synthetic digits in
tests; `data.source='synthetic'` for a folder dataset gives the same task in RGB as its
stand-in): an identity is one MNIST digit instance; its images are that instance seen by
`NUM_CAMERAS` "cameras", each with its own scale, contrast, background level, noise and clutter
(other digits' crops), at a random position. Telling two instances of the same class apart is
the fine-grained, camera-invariant matching re-ID needs. Identities of `train` come from MNIST
train (the digit carve's train part), of `validation` from the carved validation digits, of
`test` from MNIST test, so the three share no identity; `data.num_distractors` gallery images
(pid 0) show digits that are no identity. Every image is a pure function of (split, identity,
image number): the dataset is fixed, like a real one, and built once in memory.

Training batches: the PK sampler (Hermans et al. 2017) and, per image, resize, zero-pad and
random crop, horizontal flip, and random erasing (Zhong et al. 2020), all drawn from
(seed, epoch, index, occurrence) (`augment`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import types

import numpy as np
from PIL import Image

from attn_rl.data import batching, canvas, splits
from attn_rl.data import images as image_lib

# dataset -> its folder under data.root.
FOLDER_DATASETS = {"market1501": "Market-1501-v15.09.15", "dukemtmc_reid": "DukeMTMC-reID"}
DATASETS = (*FOLDER_DATASETS, "mnist_identities")
# Published image counts (train, query, gallery), after junk (pid -1) is dropped.
KNOWN_COUNTS = {
    "market1501": {"train": 12936, "query": 3368, "gallery": 15913},
    "dukemtmc_reid": {"train": 16522, "query": 2228, "gallery": 17661},
}
SUBFOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
NAME = re.compile(r"([-\d]+)_c(\d)")
# Fixed seed of the validation-identity carve and of the offline task's rendering.
VALIDATION_SEED = 20200823
NUM_CAMERAS = 6


@dataclasses.dataclass
class Records:
  """The images of one split. `images` holds uint8 arrays ([H, W] or [H, W, 3]) or file paths;
  pids, camids int32 [n]; is_query bool [n] (all False for training)."""

  images: list | np.ndarray
  pids: np.ndarray
  camids: np.ndarray
  is_query: np.ndarray

  def __len__(self) -> int:
    return len(self.pids)

  def image(self, i: int) -> np.ndarray:
    x = self.images[i]
    if isinstance(x, str):
      with Image.open(x) as im:
        return np.asarray(im.convert("RGB"))
    return x

  def subset(self, index) -> Records:
    index = np.asarray(index, int)
    images = (self.images[index] if isinstance(self.images, np.ndarray)
              else [self.images[i] for i in index])
    return Records(images, self.pids[index], self.camids[index], self.is_query[index])


def parse_name(filename: str) -> tuple[int, int]:
  """'0002_c1s1_000451_03.jpg' -> (pid 2, camera 0): the pid as written, the camera from 0."""
  m = NAME.search(os.path.basename(filename))
  if m is None:
    raise ValueError(f"{filename}: not a re-ID file name (expected '<pid>_c<camera>...', e.g. "
                     "'0002_c1s1_000451_03.jpg').")
  return int(m.group(1)), int(m.group(2)) - 1


def read_folder(folder: str) -> Records:
  """Every .jpg/.png of `folder` in sorted order, junk (pid -1) dropped."""
  if not os.path.isdir(folder):
    raise splits.DatasetNotFoundError(f"{folder} is not a directory.")
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".jpg", ".png")))
  paths, pids, cams = [], [], []
  for n in names:
    pid, cam = parse_name(n)
    if pid == -1:
      continue
    paths.append(os.path.join(folder, n))
    pids.append(pid)
    cams.append(cam)
  return Records(paths, np.asarray(pids, np.int32), np.asarray(cams, np.int32),
                 np.zeros(len(pids), bool))


def dataset_dir(data_config) -> str:
  if not data_config.root:
    raise splits.DatasetNotFoundError(
        f"data.dataset={data_config.dataset!r} reads a folder: set --config.data.root to the "
        f"directory that holds {FOLDER_DATASETS[data_config.dataset]}/.")
  path = os.path.join(os.path.expanduser(data_config.root),
                      FOLDER_DATASETS[data_config.dataset])
  missing = [s for s in SUBFOLDERS.values() if not os.path.isdir(os.path.join(path, s))]
  if missing:
    raise splits.DatasetNotFoundError(
        f"{path} lacks {', '.join(missing)}: data.root must hold the dataset as its authors "
        f"distribute it ({FOLDER_DATASETS[data_config.dataset]}/bounding_box_train, query, "
        "bounding_box_test).")
  return path


def read_folder_dataset(data_config) -> dict[str, Records]:
  """{'train', 'query', 'gallery'} of a folder dataset, counts checked (module docstring)."""
  path = dataset_dir(data_config)
  parts = {k: read_folder(os.path.join(path, v)) for k, v in SUBFOLDERS.items()}
  if data_config.check_counts:
    known = KNOWN_COUNTS[data_config.dataset]
    wrong = {k: (len(parts[k]), known[k]) for k in parts if len(parts[k]) != known[k]}
    if wrong:
      raise ValueError(
          f"{path}: " + ", ".join(f"{k} has {n} images, expected {e}"
                                  for k, (n, e) in wrong.items())
          + ". The copy is incomplete or a different version; for a deliberate subset set "
          "--config.data.check_counts=False.")
  if (parts["train"].pids == 0).any():
    raise ValueError(f"{path}/{SUBFOLDERS['train']} holds pid 0 (distractors): training "
                     "identities must be real persons.")
  return parts


def carve_identities(pids: np.ndarray, num_validation: int) -> np.ndarray:
  """Sorted identities held out for validation from the training pids (fixed permutation)."""
  ids = np.unique(pids)
  if not 0 < num_validation < len(ids):
    raise ValueError(f"data.num_validation={num_validation} identities must be in "
                     f"(0, {len(ids)}): the training folder has {len(ids)} identities.")
  order = np.random.default_rng(VALIDATION_SEED).permutation(len(ids))
  return np.sort(ids[order[len(ids) - num_validation:]])


def query_per_camera(records: Records) -> Records:
  """The same images with the first image of every (identity, camera) marked as a query."""
  first = {}
  for i, key in enumerate(zip(records.pids.tolist(), records.camids.tolist(), strict=True)):
    first.setdefault(key, i)
  is_query = np.zeros(len(records), bool)
  is_query[list(first.values())] = True
  return dataclasses.replace(records, is_query=is_query)


def relabel(pids: np.ndarray) -> np.ndarray:
  """Identities -> 0..N-1 in sorted order (the classifier's classes)."""
  return np.searchsorted(np.unique(pids), pids).astype(np.int32)


# Per camera: digit scale, contrast, background level, noise std, clutter pieces.
CAMERAS = (
    (1.00, 1.00, 0, 8, 0),
    (0.80, 0.75, 40, 12, 2),
    (1.15, 0.60, 20, 16, 1),
    (0.90, 0.90, 70, 10, 3),
    (0.70, 0.55, 10, 20, 2),
    (1.05, 0.80, 50, 14, 4),
)


def render(digit: np.ndarray, pool: np.ndarray, camera: int, size: int, bits: np.ndarray
           ) -> np.ndarray:
  """One uint8 [size, size] view of `digit` by `camera` (CAMERAS), its randomness from
  `bits` (uint64 [24]): clutter pieces from `pool` (draws 0-19), position (20, 21), noise
  (22)."""
  scale, contrast, background, noise, num_clutter = CAMERAS[camera]
  side = max(8, min(size, round(28 * scale)))
  image = image_lib.resize(digit, side, side).astype(np.float32)
  out = np.zeros((size, size), np.float32)
  u = lambda k: float(bits[k] % np.uint64(1 << 30)) / (1 << 30)
  for c in range(num_clutter):  # 8x8 crops of other digits (as in RAM's clutter).
    piece = pool[int(bits[5 * c] % np.uint64(len(pool)))]
    py, px = int(u(5 * c + 1) * 20), int(u(5 * c + 2) * 20)
    cy, cx = int(u(5 * c + 3) * (size - 8)), int(u(5 * c + 4) * (size - 8))
    out[cy:cy + 8, cx:cx + 8] = np.maximum(out[cy:cy + 8, cx:cx + 8],
                                           piece[py:py + 8, px:px + 8])
  top, left = int(u(20) * (size - side + 1)), int(u(21) * (size - side + 1))
  out[top:top + side, left:left + side] = np.maximum(out[top:top + side, left:left + side],
                                                     image)
  rng = np.random.default_rng(int(bits[22] % np.uint64(1 << 62)))
  out = background + contrast * out + rng.normal(0, noise, out.shape)
  return np.clip(out, 0, 255).astype(np.uint8)


def digit_identities(digits, split: str, *, num_identities: int, num_distractors: int,
                     size: int) -> Records:
  """The offline task's split (module docstring): per identity 2-4 of the NUM_CAMERAS
  cameras, 1-3 images each; `train` pids relabelled 0..N-1, evaluation pids from 1 (0: the
  distractors, gallery only)."""
  n = num_identities + (0 if split == "train" else num_distractors)
  if n > len(digits):
    raise ValueError(f"data.num_identities ({num_identities}) + distractors ({num_distractors}) "
                     f"exceed the {len(digits)} digits of the {split} split.")
  stream = splits.STREAMS[split]
  plan = canvas.random_bits(VALIDATION_SEED, stream, 0, np.arange(n), 2 + 2 * NUM_CAMERAS)
  images, pids, cams = [], [], []
  for i in range(n):
    distractor = i >= num_identities
    order = np.argsort(plan[i, 2:2 + NUM_CAMERAS])
    num_cams = 1 if distractor else 2 + int(plan[i, 0] % np.uint64(3))
    for c in order[:num_cams]:
      count = 1 if distractor else 1 + int(plan[i, 2 + NUM_CAMERAS + c] % np.uint64(3))
      for j in range(count):
        bits = canvas.random_bits(VALIDATION_SEED, stream, 1 + i, np.asarray([c * 8 + j]), 24)[0]
        images.append(render(digits.images[i], digits.images, int(c), size, bits))
        pids.append(0 if distractor else i + (0 if split == "train" else 1))
        cams.append(int(c))
  records = Records(np.stack(images), np.asarray(pids, np.int32), np.asarray(cams, np.int32),
                    np.zeros(len(pids), bool))
  if split == "train":
    return records
  # Distractors are gallery only; every identity's first image per camera is a query.
  marked = query_per_camera(records)
  marked.is_query &= marked.pids > 0
  return marked


def load_split(data_config, split: str) -> Records:
  """Records of 'train', 'validation' or 'test' (module docstring)."""
  if split not in splits.SPLITS:
    raise ValueError(f"split must be one of {splits.SPLITS}, got {split!r}")
  d = data_config
  if d.dataset == "mnist_identities" or d.source == "synthetic":
    return _digit_split(d, split)
  parts = read_folder_dataset(d)
  if split == "test":
    query = dataclasses.replace(parts["query"], is_query=np.ones(len(parts["query"]), bool))
    gallery = parts["gallery"]
    return Records(list(query.images) + list(gallery.images),
                   np.concatenate([query.pids, gallery.pids]),
                   np.concatenate([query.camids, gallery.camids]),
                   np.concatenate([query.is_query, gallery.is_query]))
  train = parts["train"]
  held_out = np.isin(train.pids, carve_identities(train.pids, d.num_validation))
  if split == "validation":
    return query_per_camera(train.subset(np.flatnonzero(held_out)))
  kept = train.subset(np.flatnonzero(~held_out))
  kept.pids = relabel(kept.pids)
  return kept


# MNIST digits carved from tfds train as the validation pool (as for every digit task).
MNIST_VALIDATION = 10000


def _digit_split(d, split: str) -> Records:
  """mnist_identities, or with data.source='synthetic' a folder dataset's stand-in: the same
  identities on synthetic digits, as RGB (tests and quicktests: no files needed)."""
  from attn_rl.data import digits as digits_lib  # noqa: PLC0415 (only these need it)

  source = {"source": d.source, "dataset": "mnist", "tfds_data_dir": d.tfds_data_dir,
            "num_validation": MNIST_VALIDATION, "limit_train": d.limit_train,
            "limit_eval": d.limit_eval}
  digits = digits_lib.load_digits(types.SimpleNamespace(**source), split)
  num = d.num_identities if split == "train" else d.num_eval_identities
  records = digit_identities(digits, split, num_identities=num,
                             num_distractors=d.num_distractors, size=min(d.image_size))
  if d.dataset != "mnist_identities":  # RGB, like the folder datasets' images.
    records.images = np.repeat(records.images[..., None], 3, axis=-1)
  return records


def num_classes(data_config) -> int:
  """Training identities (the classifier's classes)."""
  if data_config.dataset == "mnist_identities" or data_config.source == "synthetic":
    return data_config.num_identities
  train = read_folder(os.path.join(dataset_dir(data_config), SUBFOLDERS["train"]))
  return len(np.unique(train.pids)) - data_config.num_validation


def image_shape(data_config) -> tuple[int, ...]:
  h, w = data_config.image_size
  return (h, w) if data_config.dataset == "mnist_identities" else (h, w, 3)


class PKSampler:
  """step -> (epoch, global positions): P identities x K images per batch (Hermans et al.).

  Epoch e (drawn from (seed, e) alone, so a resumed run needs no sampler state): every
  identity's images are shuffled and cut into chunks of K (the remainder dropped; an identity
  with fewer than K images gives one chunk drawn with replacement); identities are put in a
  random order, their chunks laid end to end, and chunk j goes to batch j mod S, where
  S = (number of chunks) // P batches per epoch (the last < P chunks are dropped). An identity
  has at most S chunks (more are dropped), so its chunks land in distinct batches: no identity
  appears twice in a batch. Batches are then shuffled. S depends only on the image counts, so
  step -> (epoch, batch) is a fixed map.
  """

  def __init__(self, pids: np.ndarray, *, p: int, k: int, seed: int):
    self.p, self.k, self.seed = p, k, seed
    self.groups = [np.flatnonzero(pids == i) for i in np.unique(pids)]
    if len(self.groups) < p:
      raise ValueError(f"PK sampling needs at least P={p} identities; the split has "
                       f"{len(self.groups)}.")
    per_identity = np.asarray([max(1, len(g) // k) for g in self.groups])
    steps = per_identity.sum() // p
    # Capping identities at S chunks may leave fewer than S * P chunks: lower S until it fits.
    while steps and np.minimum(per_identity, steps).sum() // p < steps:
      steps = np.minimum(per_identity, steps).sum() // p
    if steps == 0:
      raise ValueError(f"The split's images make no full batch of P={p} x K={k}.")
    self.steps_per_epoch = int(steps)
    self.max_chunks = self.steps_per_epoch
    self.global_batch = p * k
    self._epochs: dict[int, np.ndarray] = {}

  def epoch_batches(self, epoch: int) -> np.ndarray:
    """[S, P * K] positions of every batch of the epoch."""
    if epoch in self._epochs:
      return self._epochs[epoch]
    rng = np.random.default_rng([self.seed, epoch])
    chunks = []
    for i in rng.permutation(len(self.groups)):
      g = self.groups[i]
      if len(g) < self.k:
        chunks.append(rng.choice(g, self.k, replace=True))
        continue
      shuffled = rng.permutation(g)
      n = min(len(g) // self.k, self.max_chunks)
      chunks.extend(shuffled[:n * self.k].reshape(n, self.k))
    s = self.steps_per_epoch
    grid = np.stack(chunks[:s * self.p]).reshape(self.p, s, self.k)  # chunk j -> batch j % s
    batches = grid.transpose(1, 0, 2).reshape(s, self.p * self.k)[rng.permutation(s)]
    self._epochs = {e: b for e, b in self._epochs.items() if e == epoch - 1}
    self._epochs[epoch] = batches
    return batches

  def __call__(self, step: int) -> tuple[int, np.ndarray]:
    epoch, i = divmod(step, self.steps_per_epoch)
    return epoch, self.epoch_batches(epoch)[i]


def random_erasing(image: np.ndarray, rng: np.random.Generator, *, prob: float,
                   fill: np.ndarray, area=(0.02, 0.4), ratio: float = 0.3) -> np.ndarray:
  """Zhong et al. 2020: with probability `prob`, a rectangle of area fraction in `area` and
  aspect ratio in [ratio, 1/ratio] (log-uniform) is set to `fill` (100 tries, else unchanged)."""
  if rng.random() >= prob:
    return image
  h, w = image.shape[:2]
  for _ in range(100):
    target = h * w * rng.uniform(*area)
    aspect = np.exp(rng.uniform(np.log(ratio), np.log(1 / ratio)))
    eh, ew = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
    if 0 < eh < h and 0 < ew < w:
      top, left = rng.integers(0, h - eh + 1), rng.integers(0, w - ew + 1)
      out = image.copy()
      out[top:top + eh, left:left + ew] = fill
      return out
  return image


def augment(image: np.ndarray, data_config, rng: np.random.Generator | None,
            fill: np.ndarray) -> np.ndarray:
  """Resize to data.image_size; in training (rng given) zero-pad data.pad, random crop, flip
  with data.flip_prob, random erasing with data.erase_prob."""
  h, w = data_config.image_size
  if image.shape[:2] != (h, w):
    image = image_lib.resize(image, h, w)
  if rng is None:
    return image
  pad = data_config.pad
  if pad:
    widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2)
    padded = np.pad(image, widths)
    top, left = rng.integers(0, 2 * pad + 1), rng.integers(0, 2 * pad + 1)
    image = padded[top:top + h, left:left + w]
  if rng.random() < data_config.flip_prob:
    image = image[:, ::-1]
  return random_erasing(image, rng, prob=data_config.erase_prob, fill=fill)


def _fill(data_config, channels: int) -> np.ndarray:
  """The erasing value: the per-channel input mean, as a pixel (0 after normalisation)."""
  mean = np.asarray(data_config.erase_fill, np.float32)
  return np.round(255 * (mean if len(mean) == channels else mean[:1].repeat(channels))
                  ).astype(np.uint8)


def make_batches(data_config, split: str, *, seed, global_batch: int, process_index=0,
                 process_count=1):
  """As `pipeline.make_batches` for re-ID data: PK-sampled training batches {'image',
  'label'} (global_batch must be data.p * data.k), or evaluation batches {'image', 'label',
  'camid', 'is_query'} plus mask and index."""
  records = load_split(data_config, split)
  channels = 1 if data_config.dataset == "mnist_identities" else 3
  fill = _fill(data_config, channels)
  proc = dict(global_batch=global_batch, process_index=process_index,
              process_count=process_count)
  if split == "train":
    if global_batch != data_config.p * data_config.k:
      raise ValueError(f"train.batch_size={global_batch} must be data.p * data.k = "
                       f"{data_config.p} * {data_config.k} for PK sampling.")
    seeds = [seed] if isinstance(seed, int) else list(seed)

    def fetch_for(s):
      def fetch(positions, epoch):
        out, seen = [], {}
        for p in positions.tolist():
          seen[p] = seen.get(p, -1) + 1  # A repeated image draws its own augmentation.
          rng = np.random.default_rng([s, epoch, p, seen[p]])
          out.append(augment(records.image(p), data_config, rng, fill))
        return {"image": np.stack(out), "label": records.pids[positions]}
      return fetch

    per_seed = [batching.TrainBatches(
        fetch_for(s), len(records), seed=s, **proc,
        sampler=PKSampler(records.pids, p=data_config.p, k=data_config.k, seed=s))
        for s in seeds]
    return (per_seed[0] if isinstance(seed, int) else batching.SeedStack(per_seed)), len(records)

  def fetch(positions):
    return {"image": np.stack([augment(records.image(p), data_config, None, fill)
                               for p in positions.tolist()]),
            "label": records.pids[positions], "camid": records.camids[positions],
            "is_query": records.is_query[positions]}

  cache = isinstance(records.images, np.ndarray)
  return batching.EvalBatches(fetch, len(records), cache=cache, **proc), len(records)
