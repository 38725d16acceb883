"""Glimpse trajectories of test images from a trained workdir.

  python -m attn_rl.visualize --workdir=runs/ram_clutter [--num=8] [--out=DIR]

Loads the workdir's config.json and its validation-selected checkpoint (best/, else the
latest), runs one rollout on the first --num test images and writes, per image, a PNG of the
whole path and an animated GIF, glimpse by glimpse, with every scale's box.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import app, flags

from attn_rl import loop, viz
from attn_rl.data import pipeline, sources

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
_NUM = flags.DEFINE_integer("num", 8, "Test images to draw.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/pictures/test).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the drawn locations.")


def main(argv):
  del argv
  workdir = _WORKDIR.value
  config, method, model, state, meta = loop.load_trained(workdir)
  digits = sources.load_digits(config.data, "test")
  n = min(_NUM.value, len(digits))
  images = pipeline.canvas_fn(config.data, digits, "test", pipeline.EVAL_SEED)(np.arange(n), 0)
  predict = jax.jit(method.make_predict(model))
  out = jax.device_get(predict(method.inference_params(state), images,
                               jax.random.key(_SEED.value)))
  out_dir = _OUT.value or os.path.join(workdir, "pictures", "test")
  for i in range(n):
    guess, label = int(np.argmax(out.logits[i])), int(digits.labels[i])
    png, gif = viz.save_trajectory(
        os.path.join(out_dir, f"test_{i:04d}"), images[i], out.locations[:, i],
        glimpse_size=config.model.glimpse_size, num_scales=config.model.num_scales,
        caption=f"step {meta['step']} label {label} guess {guess}")
    print(png, gif)


if __name__ == "__main__":
  app.run(main)
