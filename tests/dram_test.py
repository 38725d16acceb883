"""DRAM on digit sequences: the reward and returns, the loss and scores by hand, the gradient
cuts term by term, the context initialisation, the CNN's decoding, the sequence data and the
SVHN reader on fixtures written in both of digitStruct.mat's layouts."""

import json
import os

import chex
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from attn_rl.core import checkpointing
from attn_rl.core.evaluators import classification
from attn_rl.data import config as data_config
from attn_rl.data import digits as digits_lib
from attn_rl.data import pipeline, sequences
from attn_rl.methods.dram import cnn, losses, steps
from attn_rl.methods.dram import config as dram_config
from attn_rl.methods.dram import method as dram_method
from attn_rl.methods.dram import model as model_lib
from attn_rl.methods.dram.model import DRAM
from attn_rl.rl import policy_gradient
from tests.helpers import ROOT, load_config

E = sequences.END


# ---------------------------------------------------------------------------------------------
# Pure pieces against hand-computed values.


def test_valid_positions_count_the_end_only_for_variable_lengths():
  np.testing.assert_array_equal(losses.valid_positions(jnp.int32(2), 4, False),
                                [True, True, True, False])
  np.testing.assert_array_equal(losses.valid_positions(jnp.int32(2), 2, True), [True, True])


def test_label_rewards_count_correct_labels_up_to_the_first_error():
  label = jnp.array([3, 1, 4, E])
  valid = jnp.array([True, True, True, True])
  # Right, wrong, right, right: only the first counts.
  np.testing.assert_array_equal(
      losses.label_rewards(jnp.array([3, 2, 4, E]), label, valid), [1, 0, 0, 0])
  np.testing.assert_array_equal(losses.label_rewards(label, label, valid), [1, 1, 1, 1])
  # Positions after the END pay nothing, right or wrong.
  short = jnp.array([True, True, False, False])
  np.testing.assert_array_equal(
      losses.label_rewards(jnp.array([3, 1, 0, 0]), label, short), [1, 1, 0, 0])


def test_returns_credit_each_location_with_the_labels_emitted_after_it():
  # Labels emitted after glimpses 2, 5, 8 (k = 3): rewards 1, 1, 0.
  g = losses.returns_to_go(jnp.array([1.0, 1.0, 0.0]), 3)
  np.testing.assert_array_equal(g, [2, 2, 2, 1, 1, 1, 0, 0, 0])
  g = losses.returns_to_go(jnp.array([1.0, 1.0, 1.0]), 2)
  np.testing.assert_array_equal(g, [3, 3, 2, 2, 1, 1])


def test_sequence_return_kinds():
  label = jnp.array([7, E, E])
  valid = jnp.array([True, True, False])
  right = jnp.array([7, E, 3])  # Position 2 is past the END: ignored.
  np.testing.assert_array_equal(
      losses.sequence_return(right, label, valid, 2, "cumulative"), [2, 2, 1, 1, 0, 0])
  np.testing.assert_array_equal(
      losses.sequence_return(right, label, valid, 2, "sequence"), [1] * 6)
  wrong = jnp.array([7, 5, E])
  np.testing.assert_array_equal(
      losses.sequence_return(wrong, label, valid, 2, "sequence"), [0] * 6)
  with pytest.raises(ValueError, match="rl.reward"):
    losses.sequence_return(wrong, label, valid, 2, "episode")


def test_reinforce_with_per_glimpse_returns_by_hand():
  """d/d log pi_t of the surrogate is -(G_t - b_t) w_t; the baseline regresses on G_t."""
  g = jax.grad(policy_gradient.weighted_reinforce_loss)(
      jnp.array([0.3, -0.2]), jnp.array([2.0, 1.0]), jnp.array([0.5, 0.5]),
      jnp.array([1.0, 2.0]))
  np.testing.assert_allclose(g, [-1.5, -1.0])
  np.testing.assert_allclose(
      policy_gradient.baseline_loss(jnp.array([0.5, 0.5]), jnp.array([2.0, 1.0])),
      (1.5 ** 2 + 0.5 ** 2) / 2)


def test_sequence_loss_sums_the_valid_positions():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]))
  got = losses.sequence_loss(logits, jnp.array([0, 1, 2]), jnp.array([True, True, False]))
  np.testing.assert_allclose(got, -np.log(0.5) - np.log(0.8), rtol=1e-6)


def test_sequence_sums_and_the_per_digit_denominator():
  label = jnp.array([[1, 2, E, E], [5, E, E, E], [3, 3, 3, E]])
  length = jnp.array([2, 1, 3])
  pred = jnp.array([[1, 2, E, 9],  # Right (position 3 is past the END).
                    [5, 6, E, E],  # Wrong END: the digit is right, the sequence is not.
                    [3, 0, 3, E]])  # One digit wrong.
  sums = losses.sequence_sums(pred, label, length, jnp.array([1.0, 1.0, 1.0]), False)
  assert float(sums["correct"]) == 1.0
  assert float(sums["count_digit"]) == 6.0 and float(sums["correct_digit"]) == 5.0
  masked = losses.sequence_sums(pred, label, length, jnp.array([1.0, 0.0, 0.0]), False, "_m1")
  assert (float(masked["correct_m1"]), float(masked["count_digit_m1"])) == (1.0, 2.0)
  out = classification.summarize({**jax.device_get(sums), "count": 3.0})
  np.testing.assert_allclose([out["error"], out["error_digit"]], [2 / 3, 1 / 6])


# ---------------------------------------------------------------------------------------------
# The model and its gradient routing.


def _setup(arg="quicktest", file="dram_multidigit.py", **overrides):
  config = load_config(os.path.join(ROOT, "configs", file), arg, **overrides)
  model = DRAM(config, sequences.num_classes(config.data))
  params = model.init(jax.random.key(0), sequences.image_shape(config.data))
  fetch, _ = sequences.make_fetch(config.data, "train", seed=0)
  batch = fetch(np.arange(8), 0)
  return config, model, params, jax.tree.map(jnp.asarray, batch)


def _grads_of_each_term(config, model, params, batch):
  def term(name):
    def f(p):
      terms, _, _ = steps.loss_terms(model, config, p, batch["image"], batch["label"],
                                     batch["length"], jax.random.key(3))
      return terms[name]
    return jax.grad(f)(params)
  names = ["classification", "reinforce", "baseline"] + (["context"] if config.unified.context
                                                         else [])
  return {n: term(n) for n in names}


def _moved(tree) -> bool:
  return any(bool(jnp.any(x != 0)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("arm", ["quicktest", "full,quicktest"])
def test_each_term_reaches_only_its_components(arm):
  config, model, params, batch = _setup(arm)
  grads = _grads_of_each_term(config, model, params, batch)
  owners = {
      "classification": {"glimpse", "lower", "classify"},
      "context": {"glimpse", "lower", "classify", "context_classifier"},
      "reinforce": {"emission", "upper", "context"},
      "baseline": {"baseline"},
  }
  for name, g in grads.items():
    reached = {c for c in g if _moved(g[c])}
    assert reached == owners[name], (name, reached)


def test_the_unrolled_episode_computes_what_the_rolled_one_does():
  """model.unroll (the default, True) only changes how XLA schedules the glimpse loop; the
  quicktest configs keep it rolled to compile fast, so this is the unrolled loop's test."""
  # Pairs: 6 glimpses compile faster than multi-digit's 18; the same loop with context.
  config, rolled, params, batch = _setup("full,quicktest", file="dram_pairs.py")
  assert config.model.unroll is False and rolled.scan_unroll == 1
  assert dram_config.defaults().model.unroll is True
  config, unrolled, _, _ = _setup("full,quicktest", file="dram_pairs.py",
                                  **{"model.unroll": True})
  assert unrolled.scan_unroll is True

  def terms_and_grads(model):
    def total(p):
      terms, _, _ = steps.loss_terms(model, config, p, batch["image"], batch["label"],
                                     batch["length"], jax.random.key(3))
      return sum(terms.values()), terms
    return jax.jit(jax.grad(total, has_aux=True))(params)

  grads_u, terms_u = terms_and_grads(unrolled)
  grads_r, terms_r = terms_and_grads(rolled)
  chex.assert_trees_all_close(terms_u, terms_r, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(grads_u, grads_r, rtol=1e-4, atol=1e-6)
  assert _moved(grads_u["emission"]) and _moved(grads_u["glimpse"])


def test_the_groups_partition_the_components():
  for arm in ("quicktest", "full,quicktest", "nocontext,quicktest"):
    config, model, params, _ = _setup(arm)
    state = dram_method.init_state(config, model, jax.random.key(0),
                                   sequences.image_shape(config.data))
    names = [n for g in state.trainable.values() for n in g.params]
    assert sorted(names) == sorted(params)


def test_the_context_network_chooses_the_first_location_from_the_image():
  """With context, l_1 (the mean, deterministic policy) depends on the image; without it,
  every image starts at the same learned location."""
  for arm, same in (("quicktest", False), ("nocontext,quicktest", True)):
    config, model, params, batch = _setup(arm)
    out = model.unroll(params, batch["image"], jax.random.key(0), deterministic=True)
    first = np.asarray(out.locations[0])
    assert np.allclose(first, first[0]) == same, arm
    # Later locations follow what the glimpses saw, in both. (Drawn: at initialisation the
    # deterministic policy without context can sit at l = 0, where G_loc = ReLU(bias) = 0
    # blanks every glimpse vector.)
    drawn = model.unroll(params, batch["image"], jax.random.key(0))
    assert not np.allclose(drawn.locations[-1], drawn.locations[-1][0])


def test_the_scan_control_reads_one_raster_without_noise_or_policy_gradient():
  config, model, params, batch = _setup("scan,quicktest")
  raster = np.asarray(model_lib.scan_locations(model.num_glimpses))
  assert raster[0, 1] < raster[-1, 1] and np.all(np.diff(raster[:, 1]) > 0)
  np.testing.assert_array_equal(raster[:, 0], 0.0)
  for key in (jax.random.key(0), jax.random.key(1)):
    out = model.unroll(params, batch["image"], key)
    np.testing.assert_array_equal(out.locations,
                                  np.broadcast_to(raster[:, None], out.locations.shape))
    np.testing.assert_array_equal(out.log_probs, 0.0)
  grads = _grads_of_each_term(config, model, params, batch)
  assert not _moved(grads["reinforce"])
  assert {c for c in grads["classification"] if _moved(grads["classification"][c])} == {
      "glimpse", "lower", "classify"}


def test_no_derivative_of_the_labels_reaches_the_emission_pathway():
  """The logits are no differentiable function of the upper LSTM, the context network or the
  emission network (they act only through the sampled, cut locations)."""
  config, model, params, batch = _setup()

  def logits_sum(p):
    return model.unroll({**params, **p}, batch["image"], jax.random.key(1)).logits.sum()

  pathway = {k: params[k] for k in ("upper", "context", "emission")}
  assert not _moved(jax.grad(logits_sum)(pathway))
  assert _moved(jax.grad(logits_sum)({"lower": params["lower"]}))


@pytest.mark.parametrize("file", ["dram_multidigit.py", "dram_addition.py"])
def test_train_step_learns_a_batch_and_traces_once(file):
  config, model, params, batch = _setup(file=file, **{"optim.schedule": "constant",
                                                      "optim.learning_rate": 1e-2})
  state = dram_method.init_state(config, model, jax.random.key(0),
                                 sequences.image_shape(config.data))
  chex.clear_trace_counter()
  step = jax.jit(chex.assert_max_traces(steps.make_train_step(config, model), n=1))
  losses_seen = []
  for _ in range(60):
    state, metrics = step(state, batch, jax.random.key(0))
    losses_seen.append(float(metrics["loss/classification"]))
  # Each step draws new locations: compare the last ten steps' mean, not one noisy step.
  assert np.mean(losses_seen[-10:]) < 0.85 * losses_seen[0]


def test_addition_emits_one_sum_after_every_glimpse():
  config, model, params, batch = _setup(file="dram_addition.py")
  assert model.num_glimpses == 6 and model.positions == 1 and model.fixed
  out = model.unroll(params, batch["image"], jax.random.key(1))
  chex.assert_shape(out.logits, (1, 8, sequences.SUMS))
  chex.assert_shape(out.locations, (6, 8, 2))
  # One label, scored alone: the reward of the only glimpse block is 1 iff the sum is right.
  pred = jnp.array([14])
  np.testing.assert_array_equal(
      losses.sequence_return(pred, jnp.array([14]), jnp.array([True]), 6, "cumulative"),
      np.ones(6))
  np.testing.assert_array_equal(
      losses.sequence_return(pred, jnp.array([13]), jnp.array([True]), 6, "cumulative"),
      np.zeros(6))


def test_label_text_reads_ends_only_in_variable_length_rows():
  assert dram_method.label_text([2, 6, E, E]) == "26."
  assert dram_method.label_text([2, 6], fixed=True) == "26"
  # An addition's sum of 10 is a number, not the END.
  assert dram_method.label_text([10], fixed=True) == "10"


# ---------------------------------------------------------------------------------------------
# The CNN baseline.


def test_cnn_decoding_sums_log_probabilities_over_lengths():
  # The length head prefers 2 digits, but the second digit is unsure and the first sure:
  # log p(n=1) + log p(d0) beats log p(n=2) + log p(d0) + log p(d1).
  length = jnp.log(jnp.array([0.01, 0.40, 0.45, 0.14]))
  d0 = jnp.log(jnp.full(10, 0.01).at[4].set(0.91))
  d1 = jnp.log(jnp.full(10, 0.1).at[2].set(0.1001))
  digits = jnp.stack([d0, d1])
  np.testing.assert_array_equal(cnn.decode(length, digits), [4, E, E])
  sure = jnp.stack([d0, jnp.log(jnp.full(10, 0.01).at[2].set(0.91))])
  np.testing.assert_array_equal(cnn.decode(length, sure), [4, 2, E])
  # Fixed length: the digit heads alone.
  np.testing.assert_array_equal(cnn.decode(None, sure), [4, 2])


def test_cnn_loss_by_hand():
  length = jnp.log(jnp.array([0.1, 0.2, 0.7]))
  digits = jnp.log(jnp.array([[0.5] + [0.5 / 9] * 9]))
  got = cnn.example_loss(length, digits, jnp.array([0, E]), jnp.int32(1))
  np.testing.assert_allclose(got, -np.log(0.2) - np.log(0.5), rtol=1e-6)
  # A length-0 example trains only the length head.
  got = cnn.example_loss(length, digits, jnp.array([E, E]), jnp.int32(0))
  np.testing.assert_allclose(got, -np.log(0.1), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Data.


def _blocks(num_per_class=20):
  """Digits that are solid 28x28 blocks of brightness 20 * (class + 1): classes are readable
  from the pixels."""
  labels = np.repeat(np.arange(10), num_per_class).astype(np.int32)
  images = np.repeat(((labels + 1) * 20).astype(np.uint8)[:, None, None], 28, 1).repeat(28, 2)
  return digits_lib.Digits(images, labels)


def test_multidigit_examples_are_deterministic_and_end_padded():
  d = data_config.sequences()
  digits = digits_lib.synthetic_digits(200, seed=0)
  index = np.arange(64)
  a = sequences.multidigit(digits, index, d, seed=1, stream=0, epoch=0, train=True)
  b = sequences.multidigit(digits, index, d, seed=1, stream=0, epoch=0, train=True)
  chex.assert_trees_all_equal(a, b)
  assert a["image"].shape == (64, 54, 54) and a["label"].shape == (64, 6)
  assert set(a["length"]) <= set(range(1, 6)) and len(set(a["length"])) > 1
  for label, n in zip(a["label"], a["length"], strict=True):
    assert (label[:n] < 10).all() and (label[n:] == E).all()
  # The first digit is the split's digit at `index`.
  np.testing.assert_array_equal(a["label"][:, 0], digits.labels[index])
  other = sequences.multidigit(digits, index, d, seed=1, stream=0, epoch=1, train=True)
  assert not np.array_equal(a["image"], other["image"])
  # Evaluation crops the centre: the same 54x54 of the same 64x64 image every time.
  e1 = sequences.multidigit(digits, index, d, seed=1, stream=1, epoch=0, train=False)
  full = sequences.multidigit(digits, index, _with(d, crop_size=None), seed=1, stream=1,
                              epoch=0, train=False)
  np.testing.assert_array_equal(e1["image"], full["image"][:, 5:59, 5:59])


def _with(d, **changes):
  d = d.copy_and_resolve_references()
  with d.unlocked():
    for k, v in changes.items():
      d[k] = v
  return d


def test_multidigit_reads_left_to_right_and_fills_the_crop():
  d = _with(data_config.sequences(), crop_size=None, vertical_jitter=0, spacing=[28, 28],
            box_expand=0.0)
  digits = _blocks()
  out = sequences.multidigit(digits, np.arange(0, 200, 7), d, seed=3, stream=0, epoch=0,
                             train=False)
  for image, label, n in zip(out["image"], out["label"], out["length"], strict=True):
    # No expansion: the n blocks fill the 64x64 image, each 64 / n columns wide.
    row = image[32].astype(float)
    centres = ((np.arange(n) + 0.5) * 64 / n).astype(int)
    np.testing.assert_allclose(row[centres], (label[:n] + 1) * 20, atol=1)


def test_pairs_are_two_separate_digits_named_left_to_right():
  d = data_config.sequences("mnist_pairs")
  digits = _blocks()
  out = sequences.pairs(digits, np.arange(0, 200, 3), d, seed=0, stream=0, epoch=0, train=True)
  assert out["label"].shape == (67, 2) and (out["length"] == 2).all()
  for image, label in zip(out["image"], out["label"], strict=True):
    # The leftmost ink is the first label's block.
    cols = np.nonzero(image.any(0))[0]
    assert image[:, cols[0]].max() == (label[0] + 1) * 20
    # Two 28x28 blocks that do not overlap: 2 x 784 pixels on.
    assert (image > 0).sum() == 2 * 28 * 28


def test_addition_is_the_pairs_canvas_labelled_by_its_sum():
  digits = _blocks()
  index = np.arange(0, 200, 3)
  pairs = sequences.pairs(digits, index, data_config.sequences("mnist_pairs"), seed=0,
                          stream=0, epoch=0, train=True)
  added = sequences.pairs(digits, index, data_config.sequences("mnist_addition"), seed=0,
                          stream=0, epoch=0, train=True)
  np.testing.assert_array_equal(added["image"], pairs["image"])
  np.testing.assert_array_equal(added["label"][:, 0], pairs["label"].sum(1))
  assert added["label"].shape == (67, 1) and (added["length"] == 1).all()
  # Both blocks' classes are readable from the pixels: the sum is theirs.
  for image, label in zip(added["image"], added["label"], strict=True):
    shades = np.unique(image[image > 0])
    total = sum(int(v) // 20 - 1 for v in shades) if len(shades) == 2 else 2 * (
        int(shades[0]) // 20 - 1)
    assert label[0] == total
  d = data_config.sequences("mnist_addition")
  assert (sequences.sequence_length(d), sequences.num_classes(d)) == (1, sequences.SUMS)


def test_cnn_has_one_sum_head_on_addition():
  config = load_config(os.path.join(ROOT, "configs", "dram_addition.py"), "cnn,quicktest")
  model = cnn.make_model(config, sequences.num_classes(config.data))
  assert (model.positions, model.classes, model.fixed) == (1, sequences.SUMS, True)
  params = model.init(jax.random.key(0), jnp.zeros((2, 100, 100), jnp.uint8))
  length, sums = model.apply(params, jnp.zeros((2, 100, 100), jnp.uint8))
  assert length is None
  chex.assert_shape(sums, (2, 1, sequences.SUMS))
  logits = jnp.log(jnp.full((1, 19), 0.01).at[0, 14].set(0.82))
  np.testing.assert_allclose(cnn.example_loss(None, logits, jnp.array([14]), jnp.int32(1)),
                             -np.log(0.82), rtol=1e-5)
  np.testing.assert_array_equal(cnn.decode(None, logits), [14])


def test_sequence_config_errors_name_the_fix():
  c = load_config(os.path.join(ROOT, "configs", "dram_pairs.py"))
  with c.unlocked():
    c.data.max_digits = 3
  with pytest.raises(ValueError, match="exactly 2"):
    dram_config.validate(c)
  c = load_config(os.path.join(ROOT, "configs", "dram_addition.py"))
  with c.unlocked():
    c.data.canvas_size = 40
  with pytest.raises(ValueError, match="at least 56"):
    dram_config.validate(c)
  c = load_config(os.path.join(ROOT, "configs", "dram_multidigit.py"))
  with c.unlocked():
    c.rl.reward = "episode"
  with pytest.raises(ValueError, match="rl.reward"):
    dram_config.validate(c)
  svhn = load_config(os.path.join(ROOT, "configs", "dram_svhn.py"), "")
  with svhn.unlocked():
    svhn.data.source = "prepared"
  with pytest.raises(ValueError, match="data.root is empty"):
    dram_config.validate(svhn)


# ---------------------------------------------------------------------------------------------
# SVHN format 1 on fixtures.


def _write_digit_struct(path, records):
  """A MATLAB v7.3-style digitStruct.mat: names and bbox groups behind object references;
  one-digit fields inline (1x1), several-digit fields as columns of references."""
  with h5py.File(path, "w") as f:
    refs = f.create_group("#refs#")
    group = f.create_group("digitStruct")
    name_refs, box_refs = [], []
    for i, (name, digits) in enumerate(records):
      chars = refs.create_dataset(f"n{i}", data=np.array([[ord(c)] for c in name], np.uint16))
      name_refs.append(chars.ref)
      box = refs.create_group(f"b{i}")
      for key in ("height", "label", "left", "top", "width"):
        values = [float(dig[key]) for dig in digits]
        if len(values) == 1:
          box.create_dataset(key, data=np.array([[values[0]]]))
        else:
          cells = [refs.create_dataset(f"b{i}_{key}_{j}", data=np.array([[v]])).ref
                   for j, v in enumerate(values)]
          box.create_dataset(key, data=np.array(cells, dtype=h5py.ref_dtype).reshape(-1, 1))
      box_refs.append(box.ref)
    group.create_dataset("name", data=np.array(name_refs, dtype=h5py.ref_dtype).reshape(-1, 1))
    group.create_dataset("bbox", data=np.array(box_refs, dtype=h5py.ref_dtype).reshape(-1, 1))


def _digit(label, top, left, height, width):
  return {"label": label, "top": top, "left": left, "height": height, "width": width}


def _svhn_fixture(root, split):
  folder = os.path.join(root, split)
  os.makedirs(folder)
  records = [
      ("1.png", [_digit(1, 20, 30, 20, 10), _digit(10, 22, 42, 18, 12)]),  # "10" -> 1, 0
      ("2.png", [_digit(5, 10, 10, 30, 14)]),  # one digit: inline fields
      ("3.png", [_digit(d, 5, 5 + 8 * i, 20, 8) for i, d in enumerate([1, 2, 3, 4, 5, 6])]),
  ]
  _write_digit_struct(os.path.join(folder, "digitStruct.mat"), records)
  for name, _ in records:
    Image.fromarray(np.full((60, 100, 3), 128, np.uint8)).save(os.path.join(folder, name))
  return records


def test_digit_struct_reads_both_field_layouts(tmp_path):
  _svhn_fixture(str(tmp_path), "train")
  got = sequences.read_digit_struct(str(tmp_path / "train" / "digitStruct.mat"))
  assert [r.name for r in got] == ["1.png", "2.png", "3.png"]
  assert got[0].labels == (1, 0) and got[1].labels == (5,) and got[2].labels == (1, 2, 3, 4, 5,
                                                                                  6)
  assert got[0].boxes == ((20.0, 30.0, 20.0, 10.0), (22.0, 42.0, 18.0, 12.0))
  with pytest.raises(FileNotFoundError, match="digitStruct.mat"):
    sequences.read_digit_struct(str(tmp_path / "extra" / "digitStruct.mat"))


def test_goodfellow_crop_is_the_union_box_grown_by_30_percent():
  image = np.zeros((100, 120), np.uint8)
  # Union of the boxes: rows 20..40, cols 30..70; grown 30%: rows 17..43, cols 24..76.
  image[17:43, 24:76] = 255
  crop = sequences.goodfellow_crop(Image.fromarray(image), [(20, 30, 20, 10), (25, 60, 15, 10)])
  assert crop.shape == (64, 64) and crop[2:-2, 2:-2].min() == 255
  only_box = np.zeros_like(image)
  only_box[20:40, 30:70] = 255
  crop = sequences.goodfellow_crop(Image.fromarray(only_box), [(20, 30, 20, 40)])
  # The box fills the middle 1/1.3 of the crop; the 15% margins are black.
  assert crop[32, 32] == 255 and crop[0, 32] == 0 and crop[32, 0] == 0
  assert crop[32, 5] == 0 and crop[32, 10] == 255


def test_prepare_and_load_svhn(tmp_path):
  root, out = str(tmp_path / "svhn"), str(tmp_path / "prepared")
  for split in ("train", "extra", "test"):
    _svhn_fixture(root, split)
    sequences.prepare_svhn(root, out, split)
  with np.load(os.path.join(out, "svhn_train.npz")) as z:
    assert z["image"].shape == (2, 64, 64) and int(z["dropped"]) == 1  # The 6-digit image.
    np.testing.assert_array_equal(z["label"], [[1, 0, E, E, E, E], [5, E, E, E, E, E]])
    np.testing.assert_array_equal(z["length"], [2, 1])
  d = _with(data_config.sequences("svhn"), root=out, num_validation=1)
  train, val = sequences.load_svhn(d, "train"), sequences.load_svhn(d, "validation")
  assert len(train["label"]) == 3 and len(val["label"]) == 1  # train + extra = 4, less 1.
  fetch, n = sequences.make_fetch(d, "test", seed=0)
  batch = fetch(np.arange(n), 0)
  assert batch["image"].shape == (2, 54, 54)
  np.testing.assert_array_equal(batch["length"], [2, 1])
  with pytest.raises(FileNotFoundError, match="prepare_svhn"):
    sequences.load_svhn(_with(d, root=str(tmp_path / "nowhere")), "test")


def test_init_from_copies_a_pairs_run_s_pathway_into_addition_but_not_its_label_heads(tmp_path):
  """`model.init_from` (core/warm_start.py): MNIST pairs' trained networks start an addition run;
  the label heads (10 digits there, 19 sums here) stay fresh; a seed axis gets the copy on every
  seed; another width, or a folder with no run, is refused with the key's name."""
  def make(file, key=1, **overrides):
    config = load_config(os.path.join(ROOT, "configs", file), "full,quicktest", **overrides)
    model = DRAM(config, pipeline.num_classes(config.data))
    state = dram_method.init_state(config, model, jax.random.key(key),
                                   pipeline.image_shape(config.data))
    return config, state

  # A pairs workdir as the loop leaves it: its config.json and a checkpoint (of a state that
  # stands in for a trained one: its own initialisation).
  pairs, source = make("dram_pairs.py", key=0)
  (tmp_path / "pairs").mkdir()
  (tmp_path / "pairs" / "config.json").write_text(json.dumps(pairs.to_dict()))
  ckpt = checkpointing.Checkpointer(str(tmp_path / "pairs" / "checkpoints"), max_to_keep=1,
                                    async_save=False)
  ckpt.save(3, source, {"step": 3})
  ckpt.close()
  config, fresh = make("dram_addition.py", **{"model.init_from": str(tmp_path / "pairs")})
  started = dram_method.METHOD.warm_start(config, fresh)
  theirs, mine, before = source.params(), started.params(), fresh.params()
  assert set(mine) == set(theirs) and set(dram_method.NOT_COPIED) <= set(mine)
  for net in mine:
    if net in dram_method.NOT_COPIED:
      chex.assert_trees_all_equal(mine[net], before[net])
      assert jax.tree.leaves(mine[net])[0].shape != jax.tree.leaves(theirs[net])[0].shape
    else:
      chex.assert_trees_all_equal(mine[net], theirs[net])
      assert not all(bool(jnp.all(a == b)) for a, b in zip(
          jax.tree.leaves(before[net]), jax.tree.leaves(theirs[net]), strict=True)), net
  for group in started.trainable:  # Optimizer states stay fresh.
    chex.assert_trees_all_equal(started.trainable[group].opt_state,
                                fresh.trainable[group].opt_state)

  stacked = jax.tree.map(lambda a: jnp.stack([a, a]), fresh)
  both = dram_method.METHOD.warm_start(config, stacked).params()
  for seed in range(2):
    chex.assert_trees_all_equal(jax.tree.map(lambda a, s=seed: a[s], both["lower"]),
                                theirs["lower"])

  narrow, other = make("dram_addition.py", **{"model.init_from": str(tmp_path / "pairs"),
                                               "model.lstm_hidden": 8})
  with pytest.raises(ValueError, match="init_from: .* the checkpoint's network differs"):
    dram_method.METHOD.warm_start(narrow, other)
  nowhere = load_config(os.path.join(ROOT, "configs", "dram_addition.py"), "full,quicktest",
                        **{"model.init_from": str(tmp_path / "nowhere")})
  with pytest.raises(FileNotFoundError, match="model.init_from=.*holds no config.json"):
    dram_method.METHOD.warm_start(nowhere, fresh)
