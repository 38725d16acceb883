"""Attention-map pictures of DREAL networks: PNG (all blocks) and animated GIF (block by block).

Each block's maps are drawn next to the input image: a spatial map (CBAM) as a heat map
stretched to the image's size, a channel map (SE, CBAM, SRM) as a square grid of C cells, brighter
for larger gates; each map is scaled to its own [min, max]. Pure Pillow, like `glimpse/pictures.py`.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw

_SIDE = 120  # Pixels of each panel.
_MARGIN = 16  # Caption band.


def _gray(image) -> Image.Image:
  image = np.asarray(image)
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  mode = "RGB" if image.ndim == 3 else "L"
  return Image.fromarray(image.astype(np.uint8), mode).convert("RGB").resize(
      (_SIDE, _SIDE), Image.NEAREST)


def _heat(values: np.ndarray) -> np.ndarray:
  """[...] in [0, 1] -> uint8 RGB [..., 3], from dark blue (0) to yellow (1)."""
  v = np.clip(values, 0.0, 1.0)[..., None]
  low, high = np.array([20, 20, 90.0]), np.array([255, 230, 40.0])
  return (low + v * (high - low)).astype(np.uint8)


def _map_panel(a: np.ndarray) -> Image.Image:
  """One attention map [D] (channel) or [H*W] with a square side (spatial) as a panel."""
  side = int(round(np.sqrt(a.size)))
  if side * side == a.size and a.size > 1:
    grid = a.reshape(side, side)
  else:
    cols = int(np.ceil(np.sqrt(a.size)))
    grid = np.full(cols * cols, np.nan)
    grid[: a.size] = a
    grid = grid.reshape(cols, cols)
  # Each map spans the whole colour range: gates differ by little early in training.
  lo, hi = np.nanmin(grid), np.nanmax(grid)
  rgb = _heat(np.nan_to_num((grid - lo) / max(hi - lo, 1e-6), nan=0.0))
  return Image.fromarray(rgb, "RGB").resize((_SIDE, _SIDE), Image.NEAREST)


def draw_maps(image, block_maps, *, upto=None, caption="") -> Image.Image:
  """image [H, W] uint8 next to the maps of blocks 0..upto (each a tuple of 1-D arrays)."""
  upto = len(block_maps) - 1 if upto is None else upto
  panels = [_gray(image)]
  for i, maps in enumerate(block_maps):
    # Later blocks stay black, so every GIF frame has the same size.
    panels += [_map_panel(np.asarray(m)) if i <= upto else Image.new("RGB", (_SIDE, _SIDE))
               for m in maps]
  canvas = Image.new("RGB", (_SIDE * len(panels), _SIDE + _MARGIN), (0, 0, 0))
  for i, p in enumerate(panels):
    canvas.paste(p, (i * _SIDE, _MARGIN))
  ImageDraw.Draw(canvas).text((2, 2), caption, fill=(255, 255, 255))
  return canvas


def save_maps(path_prefix, image, block_maps, *, caption="") -> tuple[str, str]:
  """Writes `<prefix>.png` (every block) and `<prefix>.gif` (one more block per frame)."""
  os.makedirs(os.path.dirname(path_prefix) or ".", exist_ok=True)
  draw_maps(image, block_maps, caption=caption).save(path_prefix + ".png")
  frames = [draw_maps(image, block_maps, upto=i, caption=f"{caption} block {i}")
            for i in range(len(block_maps))]
  frames[0].save(path_prefix + ".gif", save_all=True, append_images=frames[1:], duration=600,
                 loop=0)
  return path_prefix + ".png", path_prefix + ".gif"
