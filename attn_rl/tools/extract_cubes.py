"""Frames -> a frame CNN's last conv layer -> feature cubes on disk (the cube-folder layout of
data/video.py), for the video method.

  # Moving MNIST (data/moving_mnist.py) through a trained ResNet (DREAL or re-ID workdir):
  python -m attn_rl.tools.extract_cubes --cnn_workdir=runs/cnn_mnist --moving_mnist=single \
      --out=runs/cubes/moving_mnist_single [--num_train=10000 --num_eval=2000]
  # Videos as folders of frames, <frames_root>/<split>/<class>/<video>/<frame>.{png,jpg}:
  python -m attn_rl.tools.extract_cubes --cnn_workdir=<ResNet workdir> \
      --frames_root=<frames> --image_size=224 --out=<cubes>

The CNN is the validation-selected checkpoint of `--cnn_workdir` (its `best/`, else its
latest), applied in inference mode; a frame's cube is the output of its last residual block,
[K, K, D] (`ResNet`'s `Trace.feature_map`). `--features=pixels` takes no network: the cube is
the frame cut into K x K patches, each flattened (a control, and for tests). Cubes are stored
as float16.

HMDB-51 with an ImageNet checkpoint: decode each video's frames (e.g. `ffmpeg -i v.avi -r 30
<video>/%05d.jpg`), arrange them as <frames_root>/{train,validation,test}/<class>/<video>/
following the official split file testTrainMulti_7030_splits/<class>_test_split1.txt (1 = train,
2 = test; carve a validation set from train), restore an ImageNet ResNet-50 into a workdir of
`configs/dreal_imagenet.py:none,vanilla` and run the second command with --image_size=224; its
last block gives 7 x 7 x 2048 cubes, as GoogLeNet's inception_5b gives 7 x 7 x 1024.
"""

from __future__ import annotations

import json
import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from PIL import Image

from attn_rl.data import digits as digits_lib
from attn_rl.data import moving_mnist, splits, video

_CNN = flags.DEFINE_string("cnn_workdir", None, "Workdir of a trained ResNet (dreal or reid).")
_FEATURES = flags.DEFINE_enum("features", "cnn", ["cnn", "pixels"],
                              "'cnn' (the workdir's network) or 'pixels' (K x K patches).")
_GRID = flags.DEFINE_integer("grid", 8, "--features=pixels: the cube's side K.")
_MM = flags.DEFINE_enum("moving_mnist", None, list(moving_mnist.MODES),
                        "Generate Moving MNIST videos in this label mode.")
_FRAMES = flags.DEFINE_string("frames_root", None, "Folder of <split>/<class>/<video>/ frames.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "--frames_root: resize frames to this.")
_OUT = flags.DEFINE_string("out", None, "Cube folder to write.", required=True)
_NUM_TRAIN = flags.DEFINE_integer("num_train", 10000, "Moving MNIST: training videos.")
_NUM_EVAL = flags.DEFINE_integer("num_eval", 2000, "Moving MNIST: validation and test videos.")
_NUM_DIGITS = flags.DEFINE_integer("num_digits", 3, "Moving MNIST: digits per video.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 20, "Moving MNIST: frames per video.")
_SEED = flags.DEFINE_integer("seed", 0, "Moving MNIST: seed of the videos.")
_SYNTHETIC = flags.DEFINE_bool("synthetic_digits", False,
                               "Moving MNIST from synthetic digits (tests; no dataset).")
_BATCH = flags.DEFINE_integer("batch", 256, "Frames per CNN call.")

# Moving MNIST's canvas and step length (Srivastava et al. 2015).
CANVAS, STEP_LENGTH = 64, 0.1


def pixel_features(grid: int):
  """frames [n, H, W] or [n, H, W, C] -> [n, K, K, (H/K)(W/K)C]: patches, in [0, 1]."""

  def fn(frames):
    x = frames[..., None] if frames.ndim == 3 else frames
    n, h, w, c = x.shape
    if h % grid or w % grid:
      raise ValueError(f"Frames of {h}x{w} do not split into {grid}x{grid} patches.")
    x = x.reshape(n, grid, h // grid, grid, w // grid, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, grid, grid, -1).astype(np.float32) / 255.0

  return fn


def cnn_features(workdir: str):
  """frames -> the last residual block's output of a trained ResNet workdir."""
  from attn_rl.backbones.resnet import ResNet
  from attn_rl.core import loop
  from attn_rl.methods.dreal.method import inference_variables

  config, method, model, state, meta = loop.load_trained(workdir)
  if not isinstance(model, ResNet):
    raise ValueError(f"{workdir} trained method {config.method!r}, whose model is not a ResNet: "
                     "--cnn_workdir must hold a dreal or reid run (e.g. configs/dreal_mnist.py:"
                     "none,vanilla).")
  variables = inference_variables(state)
  apply = jax.jit(lambda frames: model.apply(variables, frames, train=False)[1].feature_map)
  print(f"CNN: {workdir} (method {config.method}, step {meta.get('step')})")
  return lambda frames: np.asarray(apply(jnp.asarray(frames)))


def run_in_chunks(fn, frames: np.ndarray, batch: int) -> np.ndarray:
  out = [fn(frames[i:i + batch]) for i in range(0, len(frames), batch)]
  return np.concatenate(out).astype(np.float16)


def moving_mnist_split(mode: str, split: str, num: int, features, *, synthetic: bool,
                       num_digits: int, num_frames: int, seed: int, batch: int):
  """(cubes [num*T, K, K, D] float16, lengths [num], labels) of one split."""
  if synthetic:
    digits = digits_lib.synthetic_digits(max(num, 300), seed=splits.STREAMS[split])
  else:
    source = types.SimpleNamespace(source="tfds", dataset="mnist", tfds_data_dir=None,
                                   num_validation=10000, limit_train=None, limit_eval=None)
    digits = digits_lib.load_digits(source, split)
  if num > len(digits):
    raise ValueError(f"{num} {split} videos need {num} digits; the split has {len(digits)}.")
  by_class = moving_mnist.class_index(digits.labels)
  cubes, labels = [], []
  per_call = max(1, batch // num_frames)
  for start in range(0, num, per_call):
    index = np.arange(start, min(start + per_call, num))
    frames, label, _, _ = moving_mnist.make_videos(
        digits, index, mode=mode, num_digits=num_digits, num_frames=num_frames, canvas=CANVAS,
        step_length=STEP_LENGTH, seed=seed, stream=splits.STREAMS[split], epoch=0,
        by_class=by_class)
    cubes.append(run_in_chunks(features, frames.reshape(-1, CANVAS, CANVAS), batch))
    labels.append(label)
  return np.concatenate(cubes), np.full(num, num_frames, np.int64), np.concatenate(labels)


def frame_folders(root: str, split: str) -> tuple[list[str], list[int], list[str]]:
  """(video folders, class indices, class names) of <root>/<split>/<class>/<video>/."""
  base = os.path.join(root, split)
  if not os.path.isdir(base):
    raise FileNotFoundError(f"{base} does not exist: --frames_root needs train/, validation/ "
                            "and test/ folders of <class>/<video>/ frames.")
  classes = sorted(os.listdir(os.path.join(root, "train")))
  folders, labels = [], []
  for c, name in enumerate(classes):
    d = os.path.join(base, name)
    for v in sorted(os.listdir(d)) if os.path.isdir(d) else []:
      folders.append(os.path.join(d, v))
      labels.append(c)
  return folders, labels, classes


def read_frames(folder: str, size: int | None) -> np.ndarray:
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg")))
  if not names:
    raise ValueError(f"{folder} holds no .png or .jpg frames.")
  out = []
  for n in names:
    with Image.open(os.path.join(folder, n)) as im:
      im = im.convert("RGB")
      if size:
        im = im.resize((size, size), Image.BILINEAR)
      out.append(np.asarray(im))
  return np.stack(out)


def main(argv):
  del argv
  if (_MM.value is None) == (_FRAMES.value is None):
    raise app.UsageError("Give exactly one of --moving_mnist and --frames_root.")
  if _FEATURES.value == "cnn" and not _CNN.value:
    raise app.UsageError("--features=cnn needs --cnn_workdir (or use --features=pixels).")
  features = (cnn_features(_CNN.value) if _FEATURES.value == "cnn"
              else pixel_features(_GRID.value))
  source = {"features": _FEATURES.value, "cnn_workdir": _CNN.value}
  for split in splits.SPLITS:
    if _MM.value:
      num = _NUM_TRAIN.value if split == "train" else _NUM_EVAL.value
      cubes, lengths, labels = moving_mnist_split(
          _MM.value, split, num, features, synthetic=_SYNTHETIC.value,
          num_digits=_NUM_DIGITS.value, num_frames=_NUM_FRAMES.value, seed=_SEED.value,
          batch=_BATCH.value)
      names = None
      meta = {"moving_mnist": {"mode": _MM.value, "num_digits": _NUM_DIGITS.value,
                               "num_frames": _NUM_FRAMES.value, "seed": _SEED.value,
                               "canvas": CANVAS, "step_length": STEP_LENGTH,
                               "digits": "synthetic" if _SYNTHETIC.value else "tfds mnist"}}
      num_classes = moving_mnist.NUM_CLASSES
    else:
      folders, ints, classes = frame_folders(_FRAMES.value, split)
      chunks = [run_in_chunks(features, read_frames(f, _IMAGE_SIZE.value), _BATCH.value)
                for f in folders]
      cubes = np.concatenate(chunks)
      lengths = np.array([len(c) for c in chunks], np.int64)
      labels = np.asarray(ints, np.int32)
      names = [os.path.relpath(f, os.path.join(_FRAMES.value, split)) for f in folders]
      meta = {"classes": classes}
      num_classes = len(classes)
    folder = video.write_folder(_OUT.value, split, cubes, lengths, labels,
                                num_classes=num_classes, names=names, **source, **meta)
    print(f"{folder}: {len(lengths)} videos, cubes {cubes.shape} float16")
  with open(os.path.join(_OUT.value, "command.json"), "w") as f:
    json.dump({"argv": sys.argv}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
