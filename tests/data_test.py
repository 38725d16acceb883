"""Canvases and pipelines: determinism, per-epoch freshness, fixed evaluation, sharding."""

import ml_collections
import numpy as np
import pytest

from attn_rl.data import canvas, pipeline
from attn_rl.data import digits as sources
from attn_rl.methods.ram import config as ram_config


def data_config(task="cluttered", size=60, clutter=4):
  c = ram_config.defaults().data
  c.task, c.canvas_size, c.num_clutter, c.source = task, size, clutter, "synthetic"
  return c


DIGITS = sources.synthetic_digits(300, seed=0)


def make(index, epoch, task="cluttered", seed=0, stream=0, size=60, clutter=4):
  return canvas.make_canvases(
      DIGITS.images[index], index, pool=DIGITS.images, task=task, canvas_size=size,
      num_clutter=clutter, clutter_size=8, seed=seed, stream=stream, epoch=epoch)


def test_canvas_is_a_function_of_seed_epoch_index_only():
  idx = np.array([3, 17, 42, 5])
  a = make(idx, epoch=2)
  # The same examples inside another batch, in another order, give the same canvases.
  b = make(np.array([99, 42, 3, 17, 5]), epoch=2)
  np.testing.assert_array_equal(a, b[[2, 3, 1, 4]])
  assert not np.array_equal(make(idx, epoch=3), a)  # Fresh positions and clutter per epoch.
  assert not np.array_equal(make(idx, epoch=2, seed=1), a)
  assert not np.array_equal(make(idx, epoch=2, stream=2), a)


def test_translated_canvas_holds_the_whole_digit():
  idx = np.arange(50)
  out = make(idx, epoch=0, task="translated", clutter=0)
  assert out.shape == (50, 60, 60) and out.dtype == np.uint8
  np.testing.assert_array_equal(out.reshape(50, -1).sum(1),
                                DIGITS.images[idx].reshape(50, -1).sum(1))
  # Positions vary: the digits' centres of mass are spread over the canvas.
  ys = [np.argwhere(o).mean(0)[0] for o in out]
  assert np.ptp(ys) > 15


def test_clutter_adds_pieces_of_other_digits():
  idx = np.arange(40)
  plain = make(idx, epoch=0, task="translated", clutter=0)
  clutter = make(idx, epoch=0, task="cluttered", clutter=4)
  assert np.all(clutter >= plain)
  added = (clutter.astype(int) - plain).reshape(40, -1)
  assert np.mean(added.sum(1) > 0) > 0.9
  assert np.all((clutter > 0).reshape(40, -1).sum(1) <= (plain > 0).reshape(40, -1).sum(1)
                + 4 * 64)


def test_plain_task_returns_the_digit():
  idx = np.arange(5)
  np.testing.assert_array_equal(make(idx, 0, task="plain", size=28), DIGITS.images[idx])


def test_random_ints_in_range_and_roughly_uniform():
  bits = canvas.random_bits(0, 0, 0, np.arange(20000), 1)[:, 0]
  x = canvas.random_ints(bits, 7)
  assert x.min() == 0 and x.max() == 6
  counts = np.bincount(x, minlength=7) / len(x)
  np.testing.assert_allclose(counts, 1 / 7, atol=0.01)


def test_process_slices_are_distinct_and_cover_the_epoch():
  c = data_config()
  parts = [pipeline.digit_batches(c, DIGITS, "train", seed=0, global_batch=32, process_index=p,
                                  process_count=4) for p in range(4)]
  spe = parts[0].steps_per_epoch
  assert spe == 300 // 32
  seen = []
  for step in range(spe):
    labels = [p(step)["label"] for p in parts]
    assert all(len(lab) == 8 for lab in labels)
    idx = parts[0].global_indices(step)
    seen.extend(idx)
    for k, p in enumerate(parts):
      np.testing.assert_array_equal(p(step)["image"],
                                    pipeline.digit_batches(c, DIGITS, "train", seed=0,
                                                           global_batch=32)(step)
                                    ["image"][8 * k: 8 * (k + 1)])
  assert len(set(seen)) == len(seen) == spe * 32  # No repeats within an epoch.
  # The next epoch reshuffles.
  assert not np.array_equal(parts[0].global_indices(spe), parts[0].global_indices(0))


def test_eval_batches_are_fixed_and_masked():
  c = data_config()
  a = pipeline.digit_batches(c, DIGITS, "test", seed=0, global_batch=64)
  b = pipeline.digit_batches(c, DIGITS, "test", seed=0, global_batch=64)
  assert len(a) == 5 and sum(x["mask"].sum() for x in a) == 300
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x["image"], y["image"])
  halves = [pipeline.digit_batches(c, DIGITS, "test", seed=0, global_batch=64, process_index=p,
                                  process_count=2) for p in range(2)]
  np.testing.assert_array_equal(np.concatenate([halves[0][1]["image"], halves[1][1]["image"]]),
                                a[1]["image"])


def test_validation_carve_is_disjoint_and_independent_of_seed(monkeypatch):
  full = sources.synthetic_digits(1000, seed=5)
  full = sources.Digits(full.images, np.arange(1000, dtype=np.int32))  # Labels = record ids.
  monkeypatch.setattr(sources, "_read_tfds_split", lambda *a: full)
  c = ml_collections.ConfigDict(dict(source="tfds", dataset="mnist", tfds_data_dir="/x",
                                     num_validation=100, limit_train=None, limit_eval=None))
  train = sources.load_digits(c, "train").labels
  val = sources.load_digits(c, "validation").labels
  assert len(train) == 900 and len(val) == 100
  assert not set(train) & set(val)


def test_missing_dataset_names_tfds_data_dir(tmp_path):
  c = data_config()
  c.source, c.tfds_data_dir = "tfds", str(tmp_path)
  with pytest.raises(sources.DatasetNotFoundError, match="TFDS_DATA_DIR"):
    sources.load_digits(c, "train")
