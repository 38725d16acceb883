"""DRAM's Method record: three groups with their own optimizers, and the pictures.

  classifier   glimpse network, lower LSTM, classification network (and the unified model's
               context classifier f_c): the cross-entropy terms
  location     emission network, upper LSTM, context network: REINFORCE (RAM's
               `optim.location_lr_scale` applies)
  baseline     the REINFORCE baseline: squared error to the return
"""

from __future__ import annotations

import numpy as np

from attn_rl.core import method as method_lib
from attn_rl.core import warm_start
from attn_rl.data import sequences
from attn_rl.glimpse import pictures
from attn_rl.methods.dram import config as dram_config
from attn_rl.methods.dram import steps
from attn_rl.methods.dram.model import DRAM, predictions
from attn_rl.methods.ram import method as ram_method

# Networks `model.init_from` never copies: the label heads (their classes are the task's).
NOT_COPIED = ("classify", "context_classifier")

GROUPS = {
    "classifier": ("glimpse", "lower", "classify", "context_classifier"),
    "location": ("emission", "upper", "context"),
    "baseline": ("baseline",),
}


def init_state(config, model: DRAM, key, image_shape):
  params = model.init(key, image_shape)
  groups = {g: tuple(n for n in nets if n in params) for g, nets in GROUPS.items()}
  return ram_method.create_state(params, config.optim, config.train.num_steps, groups)


def label_text(labels, fixed: bool = False) -> str:
  """'262.' from a label row (END-padded): the digits up to the first END, which shows as
  '.'. Fixed-length rows have no END: '26' (pairs), '14' (an addition's sum, where 10 is a
  sum)."""
  values = np.asarray(labels).tolist()
  if fixed:
    return "".join(map(str, values))
  out = []
  for v in values:
    out.append("." if v == sequences.END else str(v))
    if v == sequences.END:
      break
  return "".join(out)


def save_pictures(config, out, images, labels, prefix, step) -> list[str]:
  """Per image, the glimpse path (PNG) and a GIF whose frames add the label emitted so far."""
  k = config.model.glimpses_per_label
  fixed = sequences.fixed_length(config.data)
  pred = np.asarray(predictions(out.logits))
  paths = []
  kw = dict(glimpse_size=config.model.glimpse_size, num_scales=config.model.num_scales)
  for i in range(len(images)):
    locations = np.asarray(out.locations[:, i])
    frames = []
    for t in range(len(locations)):
      said = label_text(pred[i, :(t + 1) // k], fixed) if t + 1 >= k else ""
      frames.append(pictures.draw_trajectory(
          images[i], locations, upto=t, caption=f"{label_text(labels[i], fixed)} | {said}",
          **kw))
    paths += pictures.save_png_and_gif(f"{prefix}_{i}", frames[-1], frames)
  del step
  return paths


METHOD = method_lib.Method(
    name="dram",
    defaults=dram_config.defaults,
    validate=dram_config.validate,
    make_model=lambda config, num_classes: DRAM(config, num_classes),
    init_state=init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=steps.make_predict,
    stochastic=True,
    inference_params=lambda state: state.params(),
    warm_start=warm_start.warm_start(skip=NOT_COPIED),
    save_pictures=save_pictures,
    log_keys=("loss/total", "loss/classification", "loss/reinforce", "loss/baseline",
              "reward/mean", "acc", "acc/digit"),
    report="attn_rl.methods.dram.paper",
)
