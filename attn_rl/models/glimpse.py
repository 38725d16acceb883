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
"""

from __future__ import annotations

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
    num_scales: int,
) -> jax.Array:
  """Multi-resolution glimpses rho(x_t, l_{t-1}).

  Args:
    padded: [B, H + s, W + s, C] float images from `pad_images` (s the largest side).
    locations: [B, 2] (row, col) in [-1, 1] (clipped).
    image_hw: (H, W) of the unpadded images.
    glimpse_size: g, the side of every returned patch.
    num_scales: k; scale i covers g * 2**i pixels.

  Returns:
    [B, k, g, g, C] glimpses, finest scale first.
  """
  sides = patch_sides(glimpse_size, num_scales)
  big = sides[-1]
  centre = centre_pixels(locations, *image_hw)
  # In padded coordinates the largest patch starts at c - big // 2 + big // 2 = c.
  channels = padded.shape[-1]
  cut = jax.vmap(lambda img, c: jax.lax.dynamic_slice(img, (c[0], c[1], 0), (big, big, channels)))
  largest = cut(padded, centre)
  scales = []
  for side in sides:
    off = big // 2 - side // 2
    patch = largest[:, off : off + side, off : off + side]
    factor = side // glimpse_size
    if factor > 1:
      b = patch.shape[0]
      patch = patch.reshape(b, glimpse_size, factor, glimpse_size, factor, channels).mean((2, 4))
    scales.append(patch)
  return jnp.stack(scales, axis=1)
