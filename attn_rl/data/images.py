"""Natural-image datasets (CIFAR-10, ImageNet) read lazily with `tfds.data_source`, with
deterministic augmentation.

Splits. As for digits, the validation split is carved from tfds `train` (`splits.carve`), so
that model selection never sees the test split. `test` is tfds `test` for CIFAR-10 and
tfds `validation` for imagenet2012 (the usual ImageNet "val" numbers; its labels are public).

Records stay on disk (ArrayRecord) and are decoded per batch, so ImageNet need not fit in
memory. Augmentation is a pure function of (seed, epoch, index): each example draws from
`np.random.default_rng([seed, epoch, index])`, so a resumed run sees the same crops.

  cifar     train: zero-pad 4, random 32x32 crop, horizontal flip; eval: the image as is
  imagenet  train: random-resized crop (area 8%-100%, aspect 3/4-4/3) to S, flip;
            eval: resize the shorter side to S * 256 / 224, centre S x S crop  (S = 224)

`data.source='synthetic'` replaces the dataset with small learnable colour images (a fixed
random pattern per class plus noise) of side `data.stored_size`, for tests and quick runs.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from attn_rl.data import digits, splits

# tfds name -> (augmentation, tfds split used as 'test', number of classes).
DATASETS = {
    "cifar10": ("cifar", "test", 10),
    "imagenet2012": ("imagenet", "validation", 1000),
}


class ImageSource:
  """Indexable images of one split: `get(indices)` -> (uint8 [n, H, W, 3] list, int32 [n])."""

  def __init__(self, records, index: np.ndarray):
    self._records, self._index = records, index

  def __len__(self) -> int:
    return len(self._index)

  def get(self, indices: np.ndarray):
    if isinstance(self._records, digits.Digits):  # Synthetic: arrays in memory.
      rows = self._index[indices]
      return list(self._records.images[rows]), self._records.labels[rows]
    records = self._records.__getitems__([int(i) for i in self._index[indices]])
    images = [np.asarray(r["image"]) for r in records]
    images = [np.repeat(im, 3, -1) if im.shape[-1] == 1 else im for im in images]
    return images, np.asarray([int(r["label"]) for r in records], np.int32)


def _synthetic(num: int, *, seed: int, size: int, num_classes: int) -> digits.Digits:
  rng = np.random.default_rng(seed)
  patterns = np.random.default_rng(4321).integers(0, 256, (num_classes, 4, 4, 3))
  labels = rng.integers(0, num_classes, num).astype(np.int32)
  reps = -(-size // 4)
  images = np.kron(patterns[labels], np.ones((1, reps, reps, 1)))[:, :size, :size]
  noisy = images + rng.normal(0, 40, images.shape)
  return digits.Digits(np.clip(noisy, 0, 255).astype(np.uint8), labels)


def load_images(data_config, split: str) -> ImageSource:
  """The split of `data.dataset` (see the module docstring for the split carve)."""
  kind, test_split, num_classes = DATASETS[data_config.dataset]
  if data_config.source == "synthetic":
    seed = {"train": 0, "validation": 1, "test": 2}[split]
    num = {"train": 2048, "validation": 512, "test": 512}[split]
    records = _synthetic(num, seed=seed, size=data_config.stored_size,
                         num_classes=min(num_classes, 10))
    index = np.arange(num)
  else:
    import tensorflow_datasets as tfds  # Heavy import; only the tfds path pays for it.

    data_dir = splits.resolve_data_dir(data_config.tfds_data_dir)
    name = data_config.dataset
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
      raise splits.DatasetNotFoundError(
          f"tfds dataset {name!r} is not prepared under {data_dir!r}. Build it in ArrayRecord "
          f"format (imagenet2012 needs the manual download in <data_dir>/downloads/manual):\n"
          f"  tfds build {name} --file_format=array_record --data_dir={data_dir}\n"
          "then point TFDS_DATA_DIR (or --config.data.tfds_data_dir) at that directory.")
    tfds_split = test_split if split == "test" else "train"
    try:
      records = tfds.data_source(name, split=tfds_split, data_dir=data_dir)
      # Records are read lazily, batch by batch: read the first and the last now, so that a
      # truncated or missing file fails here, not hours into the run.
      records.__getitems__([0, len(records) - 1])
    except Exception as e:  # noqa: BLE001 (Riegeli, decoding, I/O: any damage names the files)
      raise splits.corrupt_error(builder, tfds_split, e) from e
    index = np.arange(len(records))
    if split != "test":
      index = splits.carve(len(records), data_config.num_validation, split)
  limit = data_config.limit_train if split == "train" else data_config.limit_eval
  if limit:
    index = index[:limit]
  return ImageSource(records, index)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """uint8 [H, W(, C)] -> [height, width(, C)], bilinear (PIL)."""
  return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def augment(image: np.ndarray, kind: str, size: int, rng: np.random.Generator | None
            ) -> np.ndarray:
  """uint8 [H, W, 3] -> uint8 [size, size, 3]; rng None means evaluation (no randomness)."""
  h, w = image.shape[:2]
  if kind == "cifar":
    if rng is None:
      return image if (h, w) == (size, size) else resize(image, size, size)
    padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
    top, left = rng.integers(0, h + 9 - size), rng.integers(0, w + 9 - size)
    out = padded[top:top + size, left:left + size]
    return out[:, ::-1] if rng.random() < 0.5 else out
  if rng is None:
    short = round(size * 256 / 224)
    scale = short / min(h, w)
    nh, nw = max(short, round(h * scale)), max(short, round(w * scale))
    resized = resize(image, nh, nw)
    top, left = (nh - size) // 2, (nw - size) // 2
    return resized[top:top + size, left:left + size]
  for _ in range(10):
    area = h * w * rng.uniform(0.08, 1.0)
    ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw, ch = round(np.sqrt(area * ratio)), round(np.sqrt(area / ratio))
    if 0 < cw <= w and 0 < ch <= h:
      top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
      break
  else:  # The centre square, as torchvision falls back to.
    ch = cw = min(h, w)
    top, left = (h - ch) // 2, (w - cw) // 2
  out = resize(image[top:top + ch, left:left + cw], size, size)
  return out[:, ::-1] if rng.random() < 0.5 else out


def make_batch(source: ImageSource, data_config, positions: np.ndarray, *, seed: int | None,
               epoch: int) -> dict[str, np.ndarray]:
  """{'image': uint8 [n, S, S, 3], 'label': [n]} for split positions; seed None: eval."""
  kind = DATASETS[data_config.dataset][0]
  images, labels = source.get(positions)
  out = np.stack([
      augment(im, kind, data_config.image_size,
              None if seed is None else np.random.default_rng([seed, epoch, int(p)]))
      for im, p in zip(images, positions, strict=True)
  ])
  return {"image": np.ascontiguousarray(out), "label": labels}
