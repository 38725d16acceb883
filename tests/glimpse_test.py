"""The glimpse sensor against an independent NumPy reference; the glimpse network's pooling
against flax's."""

from unittest import mock

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

from attn_rl.glimpse import networks
from attn_rl.glimpse import sensor as glimpse


def reference_glimpse(image, loc, g, k):
  """Pixel loops: scale i is the side g*2**i square at c - side//2, zero outside, box-mean."""
  h, w = image.shape
  loc = np.clip(np.asarray(loc, np.float64), -1, 1)
  c = np.floor((loc + 1) / 2 * np.array([h, w])).astype(int)
  out = []
  for i in range(k):
    side = g * 2**i
    patch = np.zeros((side, side))
    for r in range(side):
      for q in range(side):
        y, x = c[0] - side // 2 + r, c[1] - side // 2 + q
        if 0 <= y < h and 0 <= x < w:
          patch[r, q] = image[y, x]
    f = 2**i
    out.append(patch.reshape(g, f, g, f).mean((1, 3)))
  return np.stack(out)


def run_sensor(images, locs, g, k):
  images = jnp.asarray(images, jnp.float32)[..., None]
  padded = glimpse.pad_images(images, g, k)
  return glimpse.glimpse_sensor(
      padded, jnp.asarray(locs, jnp.float32), image_hw=images.shape[1:3], glimpse_size=g,
      num_scales=k,
  )[..., 0]


class GlimpseSensorTest(parameterized.TestCase):

  @parameterized.parameters((28, 8, 1), (28, 8, 3), (60, 12, 3), (100, 12, 4), (30, 5, 2))
  def test_matches_reference_everywhere(self, size, g, k):
    rng = np.random.default_rng(size + g + k)
    image = rng.integers(0, 255, (size, size)).astype(np.float32)
    corners = [(-1, -1), (-1, 1), (1, -1), (1, 1), (0, 0), (-1, 0), (0, 1)]
    locs = np.array(corners + list(rng.uniform(-1.2, 1.2, (9, 2))), np.float32)
    got = np.asarray(run_sensor(np.repeat(image[None], len(locs), 0), locs, g, k))
    for i, loc in enumerate(locs):
      np.testing.assert_allclose(got[i], reference_glimpse(image, loc, g, k), rtol=1e-5,
                                 atol=1e-3, err_msg=f"location {loc}")

  def test_exact_pixels_at_centre_and_corner(self):
    image = np.arange(28 * 28, dtype=np.float32).reshape(28, 28)
    got = np.asarray(run_sensor(image[None], [[0.0, 0.0]], 8, 1))[0, 0]
    # l = 0 centres the 8x8 patch on pixel (14, 14): rows and columns 10..17.
    np.testing.assert_array_equal(got, image[10:18, 10:18])
    got = np.asarray(run_sensor(image[None], [[-1.0, -1.0]], 8, 1))[0, 0]
    # l = (-1, -1) centres on pixel (0, 0): the top-left quarter is off the image (zeros).
    np.testing.assert_array_equal(got[:4], 0)
    np.testing.assert_array_equal(got[:, :4], 0)
    np.testing.assert_array_equal(got[4:, 4:], image[:4, :4])

  def test_outside_locations_clip_to_the_edge(self):
    image = np.random.default_rng(0).random((1, 60, 60)).astype(np.float32)
    far = run_sensor(image, [[5.0, -7.0]], 12, 3)
    edge = run_sensor(image, [[1.0, -1.0]], 12, 3)
    np.testing.assert_array_equal(np.asarray(far), np.asarray(edge))

  def test_coarse_scale_is_box_average(self):
    image = np.ones((1, 60, 60), np.float32)
    got = np.asarray(run_sensor(image, [[0.0, 0.0]], 12, 3))[0]
    # Every scale lies inside the image at the centre: all means are exactly 1.
    np.testing.assert_allclose(got, 1.0)


class SensorVariantsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_jit_and_eager_match_reference(self):
    image = jnp.asarray(np.random.default_rng(1).random((4, 60, 60, 1)), jnp.float32)
    # Away from pixel boundaries, where float32 rounding of (l + 1) / 2 * H could differ.
    locs = jnp.asarray([[0.11, -0.31], [0.93, 0.87], [-1, 1], [0.5, 0.0]], jnp.float32)
    sensor = self.variant(lambda p, loc: glimpse.glimpse_sensor(
        p, loc, image_hw=(60, 60), glimpse_size=12, num_scales=3))
    out = sensor(glimpse.pad_images(image, 12, 3), locs)
    chex.assert_shape(out, (4, 3, 12, 12, 1))
    for i in range(4):
      np.testing.assert_allclose(
          out[i, ..., 0], reference_glimpse(np.asarray(image[i, ..., 0]), locs[i], 12, 3),
          atol=1e-5)


class IntegralImageSensorTest(parameterized.TestCase):

  @parameterized.parameters((28, 8, 1), (28, 8, 3), (60, 12, 3), (100, 12, 4), (30, 5, 2),
                            (7, 3, 2), (61, 4, 3))
  def test_uint8_table_matches_reference_exactly(self, size, g, k):
    rng = np.random.default_rng(7 * size + g + k)
    images = rng.integers(0, 256, (12, size, size)).astype(np.uint8)
    corners = [(-1, -1), (-1, 1), (1, -1), (1, 1), (0, 0)]
    locs = np.array(corners + list(rng.uniform(-1.3, 1.3, (7, 2))), np.float32)
    table = glimpse.summed_area_table(jnp.asarray(images)[..., None])
    self.assertEqual(table.dtype, jnp.int32)
    got = glimpse.read_glimpses(table, jnp.asarray(locs), glimpse_size=g, num_scales=k)
    chex.assert_shape(got, (12, k, g, g, 1))
    for i, loc in enumerate(locs):
      np.testing.assert_allclose(np.asarray(got[i, ..., 0]),
                                 reference_glimpse(images[i].astype(np.float64), loc, g, k),
                                 rtol=1e-6, err_msg=f"location {loc}")

  @parameterized.parameters(1, 5, 10, 11, 100, 101)
  def test_table_is_the_integral_image(self, size):
    images = np.random.default_rng(size).integers(0, 256, (2, size, size + 3, 2))
    got = np.asarray(glimpse.summed_area_table(jnp.asarray(images, jnp.uint8)))
    want = np.pad(images.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0), (0, 0)))
    np.testing.assert_array_equal(got, want)

  def test_float_table_matches_patch_sensor(self):
    images = jnp.asarray(np.random.default_rng(3).random((6, 60, 60, 1)), jnp.float32)
    locs = jnp.asarray(np.random.default_rng(4).uniform(-1, 1, (6, 2)), jnp.float32)
    table = glimpse.read_glimpses(glimpse.summed_area_table(images), locs, glimpse_size=12,
                                  num_scales=3)
    patch = glimpse.glimpse_sensor(glimpse.pad_images(images, 12, 3), locs, image_hw=(60, 60),
                                   glimpse_size=12, num_scales=3)
    # float32 prefix sums of up to 3600 pixels: about 1e-4 absolute.
    np.testing.assert_allclose(np.asarray(table), np.asarray(patch), atol=5e-4)

  @parameterized.parameters((60, 12, 3), (100, 12, 4), (28, 8, 1))
  def test_patch_sensor_on_uint8_matches_table(self, size, g, k):
    images = jnp.asarray(np.random.default_rng(size).integers(0, 256, (5, size, size, 1)),
                         jnp.uint8)
    locs = jnp.asarray([[-1, -1], [1, 1], [0.3, -0.7], [-1.2, 0.5], [0, 0]], jnp.float32)
    patch = glimpse.glimpse_sensor(glimpse.pad_images(images, g, k), locs, image_hw=(size, size),
                                   glimpse_size=g, num_scales=k, pixel_scale=1 / 255)
    table = glimpse.read_glimpses(glimpse.summed_area_table(images), locs, glimpse_size=g,
                                  num_scales=k, pixel_scale=1 / 255)
    self.assertEqual(patch.dtype, jnp.float32)
    np.testing.assert_allclose(np.asarray(patch), np.asarray(table), rtol=1e-6, atol=1e-7)


class MaxPoolTest(parameterized.TestCase):
  """`networks.max_pool_2x2` against `nn.max_pool(x, (2, 2), strides=(2, 2))`, bit for bit."""

  def _both(self, x, cotangent):
    """(value, gradient) of <pool(x), cotangent> for both poolings."""
    def run(pool):
      return jax.jit(jax.value_and_grad(lambda v: jnp.sum(pool(v) * cotangent)))(x)
    return run(networks.max_pool_2x2), run(lambda v: nn.max_pool(v, (2, 2), strides=(2, 2)))

  @parameterized.parameters((12, 12, 4), (6, 6, 32), (3, 3, 64), (5, 7, 3))
  def test_values_and_gradients_equal_flax(self, h, w, c):
    rng = np.random.default_rng(h * w + c)
    x = jnp.asarray(rng.normal(size=(3, h, w, c)), jnp.float32)
    cotangent = jnp.asarray(rng.normal(size=(3, h // 2, w // 2, c)), jnp.float32)
    ours, flax_pool = self._both(x, cotangent)
    self.assertEqual(networks.max_pool_2x2(x).shape, (3, h // 2, w // 2, c))
    np.testing.assert_array_equal(np.asarray(networks.max_pool_2x2(x)),
                                  np.asarray(nn.max_pool(x, (2, 2), strides=(2, 2))))
    np.testing.assert_array_equal(np.asarray(ours[1]), np.asarray(flax_pool[1]))

  def test_ties_send_the_gradient_where_flax_does(self):
    # Sample 0 is constant over space, as a blank glimpse's feature map: every block is a
    # four-way tie. Sample 1 has three-way ties and one unique maximum. The whole gradient of a
    # block goes to one element.
    x = np.ones((2, 6, 6, 3), np.float32)
    x[1, ::2, ::2] = 0.0
    x[1, 0, 1, 0] = 2.0
    x = jnp.asarray(x)
    cotangent = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 3)), jnp.float32)
    ours, flax_pool = self._both(x, cotangent)
    np.testing.assert_array_equal(np.asarray(ours[1]), np.asarray(flax_pool[1]))
    # One nonzero per block and channel: the tie is not split.
    nonzero = np.asarray(ours[1] != 0).reshape(2, 3, 2, 3, 2, 3).sum(axis=(2, 4))
    np.testing.assert_array_equal(nonzero, np.ones((2, 3, 3, 3)))

  def test_conv_glimpse_network_gradients_equal_the_flax_pooling(self):
    # The network with flax's pooling traced in place of ours: the same parameters, loss and
    # gradients (to rounding: the two programs fuse differently).
    def flax_pool(x):
      return nn.max_pool(x, (2, 2), strides=(2, 2))

    rng = np.random.default_rng(1)
    glimpses = rng.random((8, 4, 12, 12, 1)).astype(np.float32)
    glimpses, locations = jnp.asarray(glimpses), jnp.asarray(rng.normal(size=(8, 2)), jnp.float32)
    net = networks.ConvGlimpseNetwork((8, 16, 16))
    params = net.init(jax.random.key(0), glimpses, locations)
    def value_and_grad():  # A new function each call: jit traces it afresh.
      loss = lambda p: jnp.sum(jnp.square(net.apply(p, glimpses, locations)))
      return jax.jit(jax.value_and_grad(loss))(params)

    ours = value_and_grad()
    with mock.patch.object(networks, "max_pool_2x2", flax_pool):
      theirs = value_and_grad()
    chex.assert_trees_all_close(ours, theirs, rtol=1e-6, atol=0)
