"""The retina-like glimpse sensor rho(x, l) of RAM (Mnih et al. 2014, Sec. 3.1).

Coordinates. A location l = (row, col) lies in [-1, 1]^2: (0, 0) is the image centre,
(-1, -1) the top-left corner, (1, 1) the bottom-right one. For an H x W image, l maps to the
centre pixel c = (floor((l_row + 1) / 2 * H), floor((l_col + 1) / 2 * W)), so l = 0 gives
(H // 2, W // 2) for even sides. Scale k in [0, num_scales) is the square patch of side
s_k = g * 2**k whose top-left pixel is c - s_k // 2; it is averaged down to g x g by
non-overlapping 2**k x 2**k box filtering. All scales of one glimpse share the centre, so
each patch is the centre crop of the largest: the sensor cuts one patch per example and
derives the others with static slices.

Off the image. Locations are clipped to [-1, 1]^2 first, so at most half of a patch leaves
the image; pixels outside the image read as zero (the canvas background).

Implementation. Two sensors give the same glimpses. `pad_images` + `glimpse_sensor` (the
default, config `model.sensor='patch'`) zero-pads each uint8 image once per episode, cuts the
largest patch per glimpse with one dynamic slice and derives the smaller scales by static
centre crops and box sums (int32 for uint8 images, then one float scaling); its per-glimpse
cost does not depend on the image size, and the per-episode padding moves bytes.
`summed_area_table` + `read_glimpses` (`'table'`) builds integral images once per episode and
reads (g + 1)^2 table entries per scale, exact on uint8 (int32 table; float images get a
float32 table, with an absolute error around 1e-7 times the image's total mass). On the
2-core CPU its per-episode prefix sums and scattered reads made it slower than 'patch' at
every image size measured (benchmarks/ram_image_size_cpu.json), so it is an option, not the
default.

`binary_patch_entropy` scores a glimpse's stroke structure (Chen et al. 2021, Eq. 12), the
weight of the bottom-up entropy constraint.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp


def patch_sides(glimpse_size: int, num_scales: int) -> list[int]:
  return [glimpse_size * 2**k for k in range(num_scales)]


def pad_images(images: jax.Array, glimpse_size: int, num_scales: int) -> jax.Array:
  """Zero-pads [B, H, W, C] images so that every clipped glimpse lies inside.

  Done once per unroll rather than once per glimpse.
  """
  big = patch_sides(glimpse_size, num_scales)[-1]
  pad = (big // 2, big - big // 2)
  return jnp.pad(images, ((0, 0), pad, pad, (0, 0)))


def centre_pixels(locations: jax.Array, height: int, width: int) -> jax.Array:
  """int32 [B, 2] centre pixels (row, col) of locations [B, 2] (clipped to [-1, 1])."""
  loc = jnp.clip(locations, -1.0, 1.0)
  size = jnp.array([height, width], loc.dtype)
  return jnp.floor((loc + 1.0) / 2.0 * size).astype(jnp.int32)


def glimpse_sensor(
    padded: jax.Array, locations: jax.Array, *, image_hw: tuple[int, int], glimpse_size: int,
    num_scales: int, pixel_scale: float = 1.0,
) -> jax.Array:
  """Multi-resolution glimpses rho(x_t, l_{t-1}).

  Args:
    padded: [B, H + s, W + s, C] images from `pad_images` (s the largest side); uint8 stays
      uint8 until the patch is cut, so the per-episode padding moves bytes, not floats.
    locations: [B, 2] (row, col) in [-1, 1] (clipped).
    image_hw: (H, W) of the unpadded images.
    glimpse_size: g, the side of every returned patch.
    num_scales: k; scale i covers g * 2**i pixels.

    pixel_scale: multiplies every value (1 / 255 turns uint8 into [0, 1] intensities).

  Returns:
    float32 [B, k, g, g, C] glimpses, finest scale first.
  """
  sides = patch_sides(glimpse_size, num_scales)
  big = sides[-1]
  centre = centre_pixels(locations, *image_hw)
  # In padded coordinates the largest patch starts at c - big // 2 + big // 2 = c.
  channels = padded.shape[-1]
  cut = jax.vmap(lambda img, c: jax.lax.dynamic_slice(img, (c[0], c[1], 0), (big, big, channels)))
  largest = cut(padded, centre)
  # Integer images are box-summed in int32 (exact) and scaled once: on XLA's CPU backend the
  # float32 reductions were 7x slower than the integer ones (ad-hoc timing, 60x60, 3 scales).
  exact = jnp.issubdtype(largest.dtype, jnp.integer)
  largest = largest.astype(jnp.int32 if exact else jnp.float32)
  scales = []
  for side in sides:
    off = big // 2 - side // 2
    patch = largest[:, off : off + side, off : off + side]
    factor = side // glimpse_size
    if factor > 1:
      b = patch.shape[0]
      patch = patch.reshape(b, glimpse_size, factor, glimpse_size, factor, channels).sum((2, 4))
    scales.append(patch.astype(jnp.float32) * (pixel_scale / factor**2))
  return jnp.stack(scales, axis=1)


def _cumsum(x: jax.Array, axis: int) -> jax.Array:
  """Inclusive prefix sum along `axis` in O(n sqrt(n)) work.

  `jnp.cumsum` lowers to a reduce-window as long as the axis on CPU and GPU (O(n^2) work):
  for a batch of 100 x 100 images that alone took longer than the rest of the sensor. Here,
  prefix sums inside blocks of about sqrt(n), plus the running totals of the blocks.
  """
  n = x.shape[axis]
  block = max(1, math.isqrt(n - 1) + 1)
  num_blocks = -(-n // block)
  pad = [(0, 0)] * x.ndim
  pad[axis] = (0, num_blocks * block - n)
  shape = list(x.shape)
  shape[axis : axis + 1] = [num_blocks, block]
  inner = jnp.cumsum(jnp.pad(x, pad).reshape(shape), axis=axis + 1)
  totals = jax.lax.index_in_dim(inner, block - 1, axis=axis + 1, keepdims=False)
  before = jnp.cumsum(totals, axis=axis) - totals
  out = inner + jnp.expand_dims(before, axis + 1)
  shape[axis : axis + 2] = [num_blocks * block]
  return jax.lax.slice_in_dim(out.reshape(shape), 0, n, axis=axis)


def summed_area_table(images: jax.Array) -> jax.Array:
  """Integral images: [B, H, W, C] -> T [B, H + 1, W + 1, C], T[b, r, c] = sum(x[b, :r, :c]).

  Integer images (uint8 canvases) give an exact int32 table; float images a float32 one.
  """
  dtype = jnp.int32 if jnp.issubdtype(images.dtype, jnp.integer) else jnp.float32
  table = _cumsum(_cumsum(images.astype(dtype), 1), 2)
  return jnp.pad(table, ((0, 0), (1, 0), (1, 0), (0, 0)))


def read_glimpses(
    table: jax.Array, locations: jax.Array, *, glimpse_size: int, num_scales: int,
    pixel_scale: float = 1.0,
) -> jax.Array:
  """Multi-resolution glimpses rho(x_t, l_{t-1}) from integral images.

  Args:
    table: [B, H + 1, W + 1, C] from `summed_area_table`.
    locations: [B, 2] (row, col) in [-1, 1] (clipped).
    glimpse_size: g, the side of every returned patch.
    num_scales: k; scale i covers g * 2**i pixels.
    pixel_scale: multiplies every value (1 / 255 turns uint8 sums into [0, 1] intensities).

  Returns:
    float32 [B, k, g, g, C] glimpses, finest scale first; equal to `glimpse_sensor`.
  """
  batch, rows, cols, channels = table.shape
  height, width = rows - 1, cols - 1
  centre = centre_pixels(locations, height, width)
  sides = patch_sides(glimpse_size, num_scales)
  factors = jnp.array([side // glimpse_size for side in sides], jnp.int32)
  halves = jnp.array([side // 2 for side in sides], jnp.int32)
  steps = jnp.arange(glimpse_size + 1, dtype=jnp.int32)
  # Box corners [B, k, g + 1] per axis; the zero padding outside the image is the clamp.
  corners = (centre[:, None, :, None] - halves[None, :, None, None]
             + factors[None, :, None, None] * steps)  # [B, k, 2, g + 1]
  r = jnp.clip(corners[:, :, 0], 0, height)
  c = jnp.clip(corners[:, :, 1], 0, width)
  flat_index = (r[:, :, :, None] * cols + c[:, :, None, :]).reshape(batch, -1)
  values = jax.vmap(lambda t, i: t[i])(table.reshape(batch, rows * cols, channels), flat_index)
  v = values.reshape(batch, num_scales, glimpse_size + 1, glimpse_size + 1, channels)
  sums = v[:, :, 1:, 1:] - v[:, :, :-1, 1:] - v[:, :, 1:, :-1] + v[:, :, :-1, :-1]
  area = (factors * factors).astype(jnp.float32)[None, :, None, None, None]
  return sums.astype(jnp.float32) * (pixel_scale / area)


def make_sensor(
    images: jax.Array, *, sensor: str, glimpse_size: int, num_scales: int,
) -> Callable[[jax.Array], jax.Array]:
  """Per-episode preparation of [B, H, W, C] images; returns `locations -> glimpses`.

  'patch' pads the images once (`pad_images`) and cuts the largest patch per glimpse;
  'table' builds integral images once (`summed_area_table`). Both give the same glimpses;
  'patch' is faster at every image size measured (benchmarks/ram_image_size_cpu.json).
  uint8 images are scaled to [0, 1].
  """
  height, width = images.shape[1:3]
  pixel_scale = 1.0 / 255.0 if images.dtype == jnp.uint8 else 1.0
  if sensor == "table":
    return functools.partial(
        read_glimpses, summed_area_table(images), glimpse_size=glimpse_size,
        num_scales=num_scales, pixel_scale=pixel_scale)
  if sensor == "patch":
    return functools.partial(
        glimpse_sensor, pad_images(images, glimpse_size, num_scales), image_hw=(height, width),
        glimpse_size=glimpse_size, num_scales=num_scales, pixel_scale=pixel_scale)
  raise ValueError(f"model.sensor={sensor!r} must be one of 'patch', 'table'.")


def binary_patch_entropy(patch: jax.Array, threshold: float) -> jax.Array:
  """Binary entropy in bits of a thresholded glimpse (Chen et al. 2021, Eq. 12).

  The patch (any shape, e.g. [k, g, g, C] for all scales of one glimpse) is binarised as
  pixel > threshold; with p the fraction of 'on' pixels, H = -p log2 p - (1 - p) log2(1 - p),
  0 log 0 = 0. H is 0 on blank or saturated patches and 1 when half the pixels are on, so
  it scores how much stroke structure a glimpse holds. Not differentiable (a threshold), and
  used only as a constant weight.

  Returns:
    [] float32 in [0, 1].
  """
  p = jnp.mean((patch > threshold).astype(jnp.float32))

  def plogp(x):
    return jnp.where(x > 0, x * jnp.log2(jnp.where(x > 0, x, 1.0)), 0.0)

  return -(plogp(p) + plogp(1.0 - p))
