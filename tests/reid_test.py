"""Re-identification: the retrieval evaluator against golden values and a loop-style reference,
the losses by hand, the BNNeck, the PK sampler, random erasing, the folder reader on a fixture
tree in Market's naming, the offline identity task, gradient routing and the warm start."""

import os

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from attn_rl.backbones import resnet
from attn_rl.core import loop
from attn_rl.core.evaluators import retrieval
from attn_rl.data import reid
from attn_rl.methods.dreal import steps as dreal_steps
from attn_rl.methods.reid import losses
from attn_rl.methods.reid import method as reid_method
from tests.helpers import ROOT, load_config

DIGITS_CONFIG = os.path.join(ROOT, "configs", "reid_digits.py")
MARKET_CONFIG = os.path.join(ROOT, "configs", "reid_market1501.py")


# ---------------------------------------------------------------- retrieval evaluator

def _ranked(distmat, q_pids, q_camids, g_pids, g_camids):
  order = np.argsort(distmat, axis=1, kind="stable")
  first, ap = retrieval.scores_from_order(order, np.asarray(q_pids), np.asarray(q_camids),
                                          np.asarray(g_pids), np.asarray(g_camids))
  valid = first >= 0
  cmc = [float(np.mean(first[valid] < k)) for k in range(1, 6)]
  return cmc, float(np.mean(ap[valid]))


def test_golden_market_protocol():
  """The issue's golden case (torchreid's and BoT's eval functions agree on it)."""
  g_pids, g_camids = [1, 0, 1, 2, 1, 2, 3], [0, 1, 1, 1, 2, 0, 0]
  distmat = np.array([[.1, .2, .3, .4, .5, .6, .7], [.7, .6, .5, .4, .3, .2, .1]])
  cmc, m_ap = _ranked(distmat, [1, 2], [0, 1], g_pids, g_camids)
  np.testing.assert_allclose(cmc, [0, 1, 1, 1, 1])
  assert m_ap == pytest.approx(0.5)
  # A third query whose only match shares its camera is skipped: nothing changes.
  with_unmatched = np.vstack([distmat, [.3, .1, .2, .5, .4, .6, .7]])
  cmc3, m_ap3 = _ranked(with_unmatched, [1, 2, 3], [0, 1, 0], g_pids, g_camids)
  np.testing.assert_allclose(cmc3, [0, 1, 1, 1, 1])
  assert m_ap3 == pytest.approx(0.5)


def _reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=10):
  """torchreid's eval_market1501, written out query by query."""
  indices = np.argsort(distmat, axis=1, kind="stable")
  matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
  all_cmc, all_ap = [], []
  for q in range(len(q_pids)):
    order = indices[q]
    remove = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
    raw = matches[q][~remove]
    if not raw.any():
      continue
    cmc = raw.cumsum()
    cmc[cmc > 1] = 1
    all_cmc.append(cmc[:max_rank])
    precision = raw.cumsum() / (np.arange(len(raw)) + 1.0)
    all_ap.append((precision * raw).sum() / raw.sum())
  return np.asarray(all_cmc, np.float32).mean(0), float(np.mean(all_ap))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluator_matches_the_reference_with_distractors_and_same_camera_matches(seed):
  rng = np.random.default_rng(seed)
  num_q, num_g, dim = 40, 120, 8
  q_pids = rng.integers(1, 12, num_q)
  g_pids = np.concatenate([rng.integers(1, 12, num_g - 20), np.zeros(20, int)])  # 0: distractor
  q_camids, g_camids = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
  # Features near a per-identity centre, so rankings are informative but imperfect.
  centres = rng.normal(size=(12, dim))
  feats = np.concatenate([centres[q_pids], centres[g_pids]]) + rng.normal(0, 1.0, (160, dim))
  pids = np.concatenate([q_pids, g_pids])
  cams = np.concatenate([q_camids, g_camids])
  is_query = np.arange(160) < num_q
  got = retrieval.evaluate(feats, pids, cams, is_query, ranks=(1, 5, 10), chunk=7)
  unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
  distmat = 1.0 - unit[:num_q] @ unit[num_q:].T
  cmc, m_ap = _reference(distmat, q_pids, g_pids, q_camids, g_camids)
  assert got["rank1"] == pytest.approx(cmc[0], abs=1e-6)
  assert got["rank5"] == pytest.approx(cmc[4], abs=1e-6)
  assert got["rank10"] == pytest.approx(cmc[9], abs=1e-6)
  assert got["map"] == pytest.approx(m_ap, abs=1e-6)
  assert 0 < got["num_valid_query"] <= num_q
  # Chunks of queries do not change anything.
  assert retrieval.evaluate(feats, pids, cams, is_query, chunk=512) == got


def test_summarize_drops_padding_and_refuses_an_unscorable_split():
  feats = np.eye(4, dtype=np.float32)
  batch = {"feature": feats, "label": np.array([1, 1, 2, 2]), "camid": np.array([0, 1, 0, 1]),
           "is_query": np.array([True, False, True, False]), "mask": np.ones(4)}
  padded = {k: np.concatenate([v, v[:2]]) for k, v in batch.items()}
  padded["mask"][4:] = 0
  empty = {k: v[:0] for k, v in batch.items()}
  acc = retrieval.accumulate(retrieval.accumulate(None, batch), empty)
  assert retrieval.summarize([padded]) == retrieval.summarize(acc)
  # Orthogonal features: every ranking is a tie, broken by gallery order.
  assert retrieval.summarize(acc)["num_valid_query"] == 2
  same_camera = {**batch, "camid": np.zeros(4, int)}
  with pytest.raises(ValueError, match="No query has a true match"):
    retrieval.summarize([same_camera])


# ---------------------------------------------------------------- losses

def test_batch_hard_triplet_by_hand():
  # Points on a line: identities a = {0, 1, 3}, b = {4, 10}.
  x = jnp.array([[0.0], [1.0], [3.0], [4.0], [10.0]])
  labels = jnp.array([0, 0, 0, 1, 1])
  loss, aux = losses.batch_hard_triplet(x, labels, margin=0.5)
  # Anchor: (hardest positive, hardest negative): 0: (3, 4), 1: (2, 3), 3: (3, 1),
  # 4: (6, 1), 10: (6, 7).
  expect = np.mean([max(0, 0.5 + p - n) for p, n in [(3, 4), (2, 3), (3, 1), (6, 1), (6, 7)]])
  assert float(loss) == pytest.approx(expect, rel=1e-5)
  assert float(aux["active"]) == pytest.approx(2 / 5)  # Anchors 3 and 4 violate the margin.


def test_triplet_never_takes_the_anchor_as_its_positive_and_accepts_unequal_k():
  x = jnp.array([[0.0, 0.0], [5.0, 0.0], [5.0, 0.1], [0.0, 3.0]])
  labels = jnp.array([7, 8, 8, 9])  # 7 and 9 have one image: no positive, left out.
  loss, _ = losses.batch_hard_triplet(x, labels, margin=0.3)
  # Only the two images of 8 are anchors: positive 0.1 apart, nearest negative 5.0 / 5.83.
  assert float(loss) == pytest.approx(0.0)
  loss, _ = losses.batch_hard_triplet(x, labels, margin=6.0)
  neg = [5.0, np.hypot(5.0, 0.1)]
  assert float(loss) == pytest.approx(np.mean([6.0 + 0.1 - n for n in neg]), rel=1e-5)
  # Coincident points (distance 0 after the clamp) keep the gradient finite.
  same = jnp.zeros((4, 3))
  grad = jax.grad(lambda f: losses.batch_hard_triplet(f, jnp.array([0, 0, 1, 1]), 0.5)[0])(same)
  assert bool(jnp.all(jnp.isfinite(grad)))


def test_label_smoothed_cross_entropy_by_hand():
  logits = jnp.array([[2.0, 0.0, -1.0]])
  logp = jax.nn.log_softmax(logits)[0]
  eps = 0.1
  q = np.array([1 - eps + eps / 3, eps / 3, eps / 3])
  got = losses.label_smoothed_cross_entropy(logits, jnp.array([0]), eps)
  assert float(got) == pytest.approx(float(-(q * logp).sum()), rel=1e-6)
  plain = losses.label_smoothed_cross_entropy(logits, jnp.array([0]), 0.0)
  assert float(plain) == pytest.approx(float(-logp[0]), rel=1e-6)


# ---------------------------------------------------------------- BNNeck and last stride

def _tiny_resnet(**kw):
  return resnet.ResNet(block="basic", stage_sizes=(1, 1), widths=(4, 8), stem_width=4,
                       attention="se", reduction=2, num_classes=5, **kw)


def test_bnneck_has_no_bias_a_small_classifier_and_feeds_the_triplet_before_the_bn():
  model = _tiny_resnet(neck="bnneck")
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (6, 16, 16)), jnp.uint8)
  variables = model.init(jax.random.key(0), images, train=False)
  params = variables["params"]
  assert set(params["neck_bn"]) == {"scale"}  # No bias: the frozen zero bias of BNNeck.
  assert set(params["head"]) == {"kernel"}  # A bias-free classifier ...
  assert float(jnp.std(params["head"]["kernel"])) == pytest.approx(0.001, rel=0.5)  # ... std 1e-3.
  (logits, trace), _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
  assert trace.features.shape == trace.embedding.shape == (6, 8) and logits.shape == (6, 5)
  # In training the neck standardises the pooled features over the batch.
  np.testing.assert_allclose(jnp.mean(trace.embedding, 0), 0.0, atol=1e-4)
  assert not np.allclose(trace.features, trace.embedding)
  # Without a neck: a dense head with bias, and the embedding is the pooled feature.
  plain = _tiny_resnet()
  v = plain.init(jax.random.key(0), images, train=False)
  assert set(v["params"]["head"]) == {"kernel", "bias"}
  _, t = plain.apply(v, images, train=False)
  np.testing.assert_array_equal(t.features, t.embedding)


def test_last_stride_one_keeps_the_last_stage_resolution():
  images = jnp.zeros((2, 16, 16), jnp.uint8)
  shapes = []
  for last_stride in (2, 1):
    model = _tiny_resnet(last_stride=last_stride)
    (_, trace), _ = model.init_with_output(jax.random.key(0), images, train=False)
    shapes.append(trace.inputs[-1].shape[1:3])
  assert shapes == [(8, 8), (16, 16)]


# ---------------------------------------------------------------- PK sampler

def test_pk_sampler_batches_are_p_identities_of_k_images_deterministic_and_epoch_exact():
  rng = np.random.default_rng(0)
  counts = rng.integers(1, 20, 60)  # Some identities have fewer than K images.
  pids = np.repeat(np.arange(60), counts)
  sampler = reid.PKSampler(pids, p=6, k=4, seed=3)
  steps = sampler.steps_per_epoch
  assert steps == sum(max(1, c // 4) for c in counts) // 6
  for epoch in range(3):
    used = []
    for i in range(steps):
      e, positions = sampler(epoch * steps + i)
      assert e == epoch and len(positions) == 24
      ids = pids[positions].reshape(6, 4)
      assert (ids == ids[:, :1]).all()  # K images of each identity, in a block ...
      assert len(set(ids[:, 0])) == 6  # ... and no identity twice in a batch.
      used.append(positions)
    used = np.concatenate(used)
    # Epoch-exact: an image appears twice only when drawn with replacement (fewer than K).
    values, times = np.unique(used, return_counts=True)
    assert (counts[pids[values[times > 1]]] < 4).all()
    # Every identity with at least K images gives floor(n / K) chunks (less the < P dropped).
    assert len(np.unique(pids[used])) >= 60 - 6
  again = reid.PKSampler(pids, p=6, k=4, seed=3)
  np.testing.assert_array_equal(again(steps + 2)[1], sampler(steps + 2)[1])
  assert not np.array_equal(sampler(0)[1], sampler(steps)[1])  # A new order every epoch.
  assert not np.array_equal(reid.PKSampler(pids, p=6, k=4, seed=4)(0)[1], sampler(0)[1])


def test_pk_sampler_caps_an_identity_with_many_images():
  pids = np.concatenate([np.zeros(200, int), np.repeat(np.arange(1, 5), 4)])
  sampler = reid.PKSampler(pids, p=2, k=4, seed=0)
  batches = sampler.epoch_batches(0)
  for b in batches:
    ids = pids[b].reshape(2, 4)[:, 0]
    assert ids[0] != ids[1]
  with pytest.raises(ValueError, match="at least P=6 identities"):
    reid.PKSampler(pids, p=6, k=4, seed=0)


# ---------------------------------------------------------------- augmentation

def test_random_erasing_is_deterministic_in_its_draws_and_bounded():
  image = np.full((64, 32, 3), 200, np.uint8)
  fill = np.array([10, 20, 30], np.uint8)
  a = reid.random_erasing(image, np.random.default_rng([1, 2, 3]), prob=1.0, fill=fill)
  b = reid.random_erasing(image, np.random.default_rng([1, 2, 3]), prob=1.0, fill=fill)
  np.testing.assert_array_equal(a, b)
  erased = (a != image).any(-1)
  assert 0.02 * 64 * 32 * 0.8 <= erased.sum() <= 0.4 * 64 * 32 * 1.2
  assert (a[erased] == fill).all()
  rows, cols = np.nonzero(erased)  # One rectangle.
  assert erased.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
  assert np.array_equal(reid.random_erasing(image, np.random.default_rng(0), prob=0.0,
                                            fill=fill), image)


def test_training_batches_are_a_function_of_seed_and_step():
  config = load_config(DIGITS_CONFIG, **{"data.erase_prob": 1.0})
  batches, n = reid.make_batches(config.data, "train", seed=0, global_batch=16)
  assert n > 16
  np.testing.assert_array_equal(batches(5)["image"], batches(5)["image"])
  fresh, _ = reid.make_batches(config.data, "train", seed=0, global_batch=16)
  np.testing.assert_array_equal(fresh(5)["image"], batches(5)["image"])
  other, _ = reid.make_batches(config.data, "train", seed=1, global_batch=16)
  assert not np.array_equal(other(5)["image"], batches(5)["image"])
  with pytest.raises(ValueError, match="must be data.p \\* data.k"):
    reid.make_batches(config.data, "train", seed=0, global_batch=32)


# ---------------------------------------------------------------- folder reader

def _write_market_fixture(root, dataset="market1501"):
  """A tiny tree in Market's naming: junk (-1), distractors (0), cameras from c1."""
  base = os.path.join(root, reid.FOLDER_DATASETS[dataset])
  files = {
      "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg",
                             "0007_c1s1_000001_01.jpg", "0007_c3s1_000002_01.jpg",
                             "0010_c2s1_000003_01.jpg", "0010_c5s2_000004_01.jpg",
                             "0011_c1s1_000005_01.jpg", "0011_c6s1_000006_01.jpg",
                             "Thumbs.db"],
      "query": ["0001_c1s1_001051_00.jpg", "0003_c2s1_000301_00.jpg"],
      "bounding_box_test": ["-1_c1s1_000401_03.jpg", "0000_c1s1_000002_01.jpg",
                            "0001_c2s1_001052_01.jpg", "0001_c1s1_001053_01.jpg",
                            "0003_c3s1_000302_01.jpg"],
  }
  for sub, names in files.items():
    os.makedirs(os.path.join(base, sub))
    for i, name in enumerate(names):
      path = os.path.join(base, sub, name)
      if name.endswith(".jpg"):
        Image.fromarray(np.full((32, 16, 3), 10 * i, np.uint8)).save(path)
      else:
        open(path, "w").close()
  return base


def _folder_config(root, **kw):
  config = load_config(MARKET_CONFIG)
  with config.unlocked():
    config.data.source = "folder"
    config.data.root = str(root)
    config.data.check_counts = False
    config.data.num_validation = 1
    for k, v in kw.items():
      config.data[k] = v
  return config


def test_folder_reader_parses_market_names(tmp_path):
  base = _write_market_fixture(tmp_path)
  gallery = reid.read_folder(os.path.join(base, "bounding_box_test"))
  assert gallery.pids.tolist() == [0, 1, 1, 3]  # Junk dropped, the distractor kept.
  assert gallery.camids.tolist() == [0, 0, 1, 2]  # c1 -> 0 (files in sorted order).
  assert reid.parse_name("/x/1501_c6s4_001902_01.jpg") == (1501, 5)
  with pytest.raises(ValueError, match="not a re-ID file name"):
    reid.parse_name("img_0001.jpg")


def test_folder_splits_validation_identities_and_test_query_gallery(tmp_path):
  _write_market_fixture(tmp_path)
  data = _folder_config(tmp_path).data
  train = reid.load_split(data, "train")
  val = reid.load_split(data, "validation")
  test = reid.load_split(data, "test")
  assert len(train) == 6 and len(val) == 2
  assert train.pids.tolist() == sorted(train.pids.tolist())
  assert set(train.pids.tolist()) == {0, 1, 2}  # Relabelled 0..N-1.
  assert len(np.unique(val.pids)) == 1 and val.is_query.sum() == 2  # One query per camera.
  assert reid.num_classes(data) == 3
  assert test.is_query.tolist() == [True, True, False, False, False, False]
  assert test.pids.tolist() == [1, 3, 0, 1, 1, 3]
  image = test.image(0)
  assert image.shape == (32, 16, 3) and image.dtype == np.uint8
  # Evaluation batches resize to data.image_size and carry cameras and query flags.
  batches, n = reid.make_batches(data, "test", seed=0, global_batch=4)
  b = batches[0]
  assert n == 6 and b["image"].shape == (4, 64, 32, 3)
  assert set(b) == {"image", "label", "camid", "is_query", "mask", "index"}


def test_folder_dataset_errors_say_what_to_do(tmp_path):
  with pytest.raises(FileNotFoundError, match="set --config.data.root"):
    reid.load_split(_folder_config("").data, "train")
  with pytest.raises(FileNotFoundError, match="lacks bounding_box_train"):
    reid.load_split(_folder_config(tmp_path).data, "train")
  _write_market_fixture(tmp_path)
  with pytest.raises(ValueError, match="train has 8 images, expected 12936"):
    reid.load_split(_folder_config(tmp_path, check_counts=True).data, "train")
  with pytest.raises(ValueError, match="data.num_validation=4 identities must be in"):
    reid.load_split(_folder_config(tmp_path, num_validation=4).data, "train")


# ---------------------------------------------------------------- offline identities

def test_digit_identities_are_fixed_disjoint_and_scorable():
  data = load_config(DIGITS_CONFIG).data
  train = reid.load_split(data, "train")
  again = reid.load_split(data, "train")
  np.testing.assert_array_equal(train.images, again.images)
  assert set(train.pids.tolist()) == set(range(data.num_identities))
  val, test = reid.load_split(data, "validation"), reid.load_split(data, "test")
  for split in (val, test):
    ids = split.pids
    assert (ids[split.is_query] > 0).all()  # Distractors are never queries ...
    assert (ids == 0).sum() == data.num_distractors  # ... and all sit in the gallery.
    for pid in np.unique(ids[ids > 0]):
      assert len(np.unique(split.camids[ids == pid])) >= 2  # A cross-camera match exists.
  # The three splits come from distinct digit pools: no image is shared.
  assert not np.array_equal(val.images[:5], test.images[:5])
  assert train.images.shape[1:] == (28, 28) and train.images.dtype == np.uint8


# ---------------------------------------------------------------- steps

def test_reid_losses_reach_backbone_and_actor_never_the_critic():
  config = load_config(DIGITS_CONFIG)
  method = reid_method.METHOD
  model = method.make_model(config, config.data.num_identities)
  state = method.init_state(config, model, jax.random.key(0), (28, 28))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (8, 28, 28)), jnp.uint8)
  labels = jnp.array([0, 0, 1, 1, 2, 2, 3, 3])
  overrides = dreal_steps.choose_overrides(model, jax.random.key(1))
  supervised = losses.make_supervised_loss(config.reid)
  g = state.trainable
  for term in ("id", "triplet"):
    def f(backbone, actor, critic, term=term):
      terms, _ = dreal_steps.loss_terms(model, config.dreal, backbone, actor, critic,
                                        state.frozen["batch_stats"], images, labels,
                                        overrides, supervised)
      return terms[term]
    grads = jax.grad(f, argnums=(0, 1, 2))(g["backbone"].params, g["actor"].params,
                                           g["critic"].params)
    norms = [float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(t)))) for t in grads]
    assert norms[0] > 0 and norms[1] > 0 and norms[2] == 0.0, (term, norms)


def test_eval_embedding_averages_the_flip():
  config = load_config(MARKET_CONFIG)
  model = reid_method.METHOD.make_model(config, config.data.num_identities)
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 64, 32, 3)), jnp.uint8)
  variables = model.init(jax.random.key(0), images, train=False)
  flipped = reid_method.steps.embed(model, variables, images, config.reid)
  mirror = reid_method.steps.embed(model, variables, images[:, :, ::-1], config.reid)
  chex.assert_trees_all_close(flipped, mirror, atol=1e-5)  # Flip-averaged: mirror invariant.
  single = reid_method.steps.embed(
      model, variables, images, ml_collections.ConfigDict({**config.reid, "flip_test": False}))
  assert not np.allclose(single, flipped)


def test_warm_start_copies_the_network_of_another_workdir_but_not_its_classifier(tmp_path):
  source_config = load_config(os.path.join(ROOT, "configs", "dreal_imagenet.py"),
                              "cbam,quicktest", **{"train.num_steps": 2})
  loop.train_and_evaluate(source_config, str(tmp_path / "imagenet"))
  _, _, _, source, _ = loop.load_trained(str(tmp_path / "imagenet"))
  config = load_config(MARKET_CONFIG, **{"model.init_from": str(tmp_path / "imagenet"),
                                         "train.num_steps": 1})
  method = reid_method.METHOD
  model = method.make_model(config, config.data.num_identities)
  fresh = method.init_state(config, model, jax.random.key(0), (64, 32, 3))
  started = method.warm_start(config, fresh)
  for group in ("backbone", "actor"):
    theirs = {k: v for k, v in source.trainable[group].params.items() if k != "head"}
    chex.assert_trees_all_equal({k: started.trainable[group].params[k] for k in theirs}, theirs)
  # The classifier (64 identities here, 10 classes there) and the neck stay fresh.
  chex.assert_trees_all_equal(started.params("backbone")["head"],
                              fresh.params("backbone")["head"])
  chex.assert_trees_all_equal(started.params("backbone")["neck_bn"],
                              fresh.params("backbone")["neck_bn"])
  chex.assert_trees_all_equal(started.frozen["batch_stats"]["stem_bn"],
                              source.frozen["batch_stats"]["stem_bn"])
  # A run started so trains, and its checkpoints resume without the source.
  assert loop.train_and_evaluate(config, str(tmp_path / "reid"))["finished"]
  other = load_config(MARKET_CONFIG, **{"model.init_from": str(tmp_path / "imagenet"),
                                        "model.widths": [8, 16]})
  with pytest.raises(ValueError, match="the checkpoint's network differs"):
    method.warm_start(other, method.init_state(
        other, method.make_model(other, 64), jax.random.key(0), (64, 32, 3)))
