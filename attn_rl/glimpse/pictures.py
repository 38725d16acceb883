"""Glimpse-trajectory pictures: PNG (whole path) and animated GIF (one frame per glimpse).

Pure Pillow, so pictures need no plotting library. Boxes are drawn at the pixels the sensor
actually read (same centre and sides as `glimpse.sensor`), one box per scale.
"""

from __future__ import annotations

import numpy as np
from etils import epath
from PIL import Image, ImageDraw

from attn_rl.glimpse import sensor as glimpse_lib


def _colour(t: int, num: int) -> tuple[int, int, int]:
  """From blue (first glimpse) to red (last)."""
  a = t / max(num - 1, 1)
  return int(255 * a), int(80 + 100 * (1 - a)), int(255 * (1 - a))


def _boxes(location, hw, glimpse_size, num_scales):
  """[(top, left, bottom, right)] in pixels, for every scale of one glimpse."""
  centre = np.asarray(glimpse_lib.centre_pixels(np.asarray(location)[None], *hw))[0]
  out = []
  for side in glimpse_lib.patch_sides(glimpse_size, num_scales):
    top, left = centre - side // 2
    out.append((top, left, top + side, left + side))
  return out, centre


def draw_trajectory(image, locations, *, glimpse_size, num_scales, upto=None, caption="",
                    zoom=None):
  """An RGB PIL image of `image` [H, W] uint8 with glimpses 0..upto of locations [T, 2]."""
  image = np.asarray(image)
  if image.ndim == 3:
    image = image[..., 0]
  h, w = image.shape
  zoom = zoom or max(1, 240 // max(h, w))
  margin = 16
  canvas = Image.new("RGB", (w * zoom, h * zoom + margin), (0, 0, 0))
  canvas.paste(Image.fromarray(image).convert("RGB").resize((w * zoom, h * zoom), Image.NEAREST),
               (0, margin))
  draw = ImageDraw.Draw(canvas)
  num = len(locations)
  upto = num - 1 if upto is None else upto
  prev = None
  for t in range(upto + 1):
    colour = _colour(t, num)
    boxes, centre = _boxes(locations[t], (h, w), glimpse_size, num_scales)
    width = 2 if t == upto else 1
    for top, left, bottom, right in boxes:
      draw.rectangle(
          [left * zoom, top * zoom + margin, right * zoom - 1, bottom * zoom - 1 + margin],
          outline=colour, width=width,
      )
    point = (centre[1] * zoom, centre[0] * zoom + margin)
    if prev is not None:
      draw.line([prev, point], fill=colour, width=2)
    draw.ellipse([point[0] - 3, point[1] - 3, point[0] + 3, point[1] + 3], fill=colour)
    prev = point
  draw.text((2, 2), caption, fill=(255, 255, 255))
  return canvas


def save_trajectory(path_prefix, image, locations, *, glimpse_size, num_scales, caption=""):
  """Writes `<prefix>.png` (whole path) and `<prefix>.gif` (glimpse by glimpse)."""
  kw = dict(glimpse_size=glimpse_size, num_scales=num_scales, caption=caption)
  frames = [draw_trajectory(image, locations, upto=t, **kw) for t in range(len(locations))]
  return save_png_and_gif(path_prefix, frames[-1], frames)


def save_png_and_gif(path_prefix: str, still, frames) -> tuple[str, str]:
  """Writes `still` to `<prefix>.png` and `frames` to `<prefix>.gif`; local or gs:// paths."""
  epath.Path(path_prefix).parent.mkdir(parents=True, exist_ok=True)
  with epath.Path(path_prefix + ".png").open("wb") as f:
    still.save(f, format="PNG")
  with epath.Path(path_prefix + ".gif").open("wb") as f:
    frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:], duration=600,
                   loop=0)
  return path_prefix + ".png", path_prefix + ".gif"


def save_region_trajectory(path_prefix, image, locations, region, *, glimpse_size, num_scales,
                           caption=""):
  """`save_trajectory` plus the top-down agent's chosen region as a yellow box on every frame.

  region: (top, left, side) in pixels, or None (no top-down choice: a plain trajectory).
  Writes `<prefix>.png` and `<prefix>.gif`; returns their paths.
  """
  h, w = np.asarray(image).shape[:2]
  zoom = max(1, 240 // max(h, w))
  kw = dict(glimpse_size=glimpse_size, num_scales=num_scales, caption=caption, zoom=zoom)

  def frame(upto=None):
    canvas = draw_trajectory(image, locations, upto=upto, **kw)
    if region is not None:
      top, left, side = (int(v) for v in region)
      margin = canvas.height - h * zoom  # The caption strip above the image.
      ImageDraw.Draw(canvas).rectangle(
          [left * zoom, top * zoom + margin, (left + side) * zoom - 1,
           (top + side) * zoom - 1 + margin], outline=(255, 220, 0), width=2)
    return canvas

  frames = [frame(t) for t in range(len(locations))]
  return save_png_and_gif(path_prefix, frames[-1], frames)
