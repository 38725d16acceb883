"""Pictures of test images from a trained workdir, for any method of the registry.

  python -m attn_rl.tools.visualize --workdir=runs/ram_clutter [--num=8] [--out=DIR]

Loads the workdir's config.json and its validation-selected checkpoint (best/, else the
latest), runs the method's `predict` on the first --num test images (as every run scores them)
and writes the method's pictures: for glimpse agents a PNG of the whole path and an animated
GIF, glimpse by glimpse, with every scale's box (and the top-down agent's region); for DREAL
the attention maps of every block.
"""

from __future__ import annotations

import os

import jax
from absl import app, flags

from attn_rl.core import loop
from attn_rl.data import pipeline

_WORKDIR = flags.DEFINE_string("workdir", None, "A training workdir.", required=True)
_NUM = flags.DEFINE_integer("num", 8, "Test images to draw.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/pictures/test).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the drawn locations.")


def main(argv):
  del argv
  workdir = _WORKDIR.value
  config, method, model, state, meta = loop.load_trained(workdir)
  if method.save_pictures is None:
    raise ValueError(f"Method {method.name!r} draws no pictures.")
  images, labels = pipeline.eval_images(config.data, "test", _NUM.value)
  predict = jax.jit(method.make_predict(model))
  out = jax.device_get(predict(method.inference_params(state), images,
                               jax.random.key(_SEED.value)))
  out_dir = _OUT.value or os.path.join(workdir, "pictures", "test")
  os.makedirs(out_dir, exist_ok=True)
  paths = method.save_pictures(config, out, images, labels, os.path.join(out_dir, "test"),
                               int(meta["step"]))
  print("\n".join(paths))


if __name__ == "__main__":
  app.run(main)
