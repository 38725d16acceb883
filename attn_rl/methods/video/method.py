"""The video method's record: groups with their own optimizers, the per-video evaluator and the
pictures (the attended slices of every frame, as a GIF).

  classifier   the LSTM core and the tanh-softmax classifier: cross-entropy
  policy       the slice scorer: REINFORCE and the penalty (hard), backpropagation (soft);
               absent without attention
  baseline     the REINFORCE baseline (hard only)
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from attn_rl.core import method as method_lib
from attn_rl.core import optim
from attn_rl.core import state as state_lib
from attn_rl.data import pipeline
from attn_rl.glimpse import pictures
from attn_rl.methods.video import config as video_config
from attn_rl.methods.video import steps
from attn_rl.methods.video.model import VideoAttention

GROUPS = {"classifier": ("core", "classify"), "policy": ("scorer",), "baseline": ("baseline",)}


def make_model(config, num_classes: int) -> VideoAttention:
  _, k, _, _ = pipeline.image_shape(config.data)
  if config.model.attention == "hard" and config.model.glimpses > k * k:
    raise ValueError(f"model.glimpses={config.model.glimpses} exceeds the {k}x{k} slices of a "
                     "cube.")
  return VideoAttention(config.model, num_classes, k * k, bool(config.data.multilabel))


def init_state(config, model: VideoAttention, key, clip_shape):
  params = model.init(key, clip_shape)
  groups = {}
  for name, nets in GROUPS.items():
    mine = {n: params[n] for n in nets if n in params}
    if mine:
      groups[name] = (mine, optim.make_optimizer(config.optim, config.train.num_steps,
                                                 weight_decay_mask=optim.kernel_mask))
  return state_lib.create(groups, clock="classifier")


def attention_frames(clip: np.ndarray, weights: np.ndarray, caption: str, zoom: int = 24
                     ) -> list[Image.Image]:
  """One picture per frame: the feature norm of each slice (gray) with the attention weight of
  each slice in red (clip [T, K, K, D], weights [T, K*K])."""
  t, k = clip.shape[0], clip.shape[1]
  norm = np.linalg.norm(clip, axis=-1)
  norm = (255 * norm / max(float(norm.max()), 1e-6)).astype(np.uint8)
  frames = []
  for i in range(t):
    w = weights[i].reshape(k, k)
    w = w / max(float(w.max()), 1e-6)
    rgb = np.stack([np.maximum(norm[i], (255 * w).astype(np.uint8)), norm[i] // 2,
                    norm[i] // 2], -1)
    im = Image.fromarray(rgb.astype(np.uint8)).resize((k * zoom, k * zoom), Image.NEAREST)
    canvas = Image.new("RGB", (k * zoom, k * zoom + 14))
    canvas.paste(im, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), f"{caption} t={i}", fill=(255, 255, 255))
    frames.append(canvas)
  return frames


def label_text(label) -> str:
  label = np.asarray(label)
  return ",".join(map(str, np.flatnonzero(label > 0.5))) if label.ndim else str(int(label))


def save_pictures(config, out, images, labels, prefix, step) -> list[str]:
  """Per clip, a GIF of its frames with the attended slices, and its last frame as PNG."""
  del config, step
  weights = np.asarray(out.weights)  # [T, B, K*K]
  probs = np.asarray(out.logits).mean(0)
  paths = []
  for i in range(len(images)):
    caption = f"y {label_text(labels[i])} | top {int(probs[i].argmax())}"
    frames = attention_frames(np.asarray(images[i]), weights[:, i], caption)
    paths += pictures.save_png_and_gif(f"{prefix}_{i}", frames[-1], frames)
  return paths


METHOD = method_lib.Method(
    name="video",
    defaults=video_config.defaults,
    validate=video_config.validate,
    make_model=make_model,
    init_state=init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=steps.make_predict,
    stochastic=True,
    inference_params=lambda state: state.params(),
    save_pictures=save_pictures,
    evaluator="video",
    select=video_config.selection,
    report="attn_rl.methods.video.paper",
    log_keys=("loss/total", "loss/classification", "loss/penalty", "loss/reinforce",
              "loss/baseline", "reward/mean", "reads/mean", "acc"),
)
