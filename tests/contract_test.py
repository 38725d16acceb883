"""The contract of every method in the registry, and every config file's quicktest end to end.

Per method (on its quicktest network): the train step is a pure function of (state, batch,
key) traced once, every trainable group steps, the metrics are flat finite scalars with the
names the loop logs; 1 and 8 devices give the same step; on 8 devices neither the train step
nor the eval step gathers the batch inside a loop; the eval step's sums are masked and the
evaluator turns them into the selection metric. Per config file: `:quicktest` trains,
validates, checkpoints, draws, tests once, and an interrupted run resumes to the same result.
Method-specific expectations (gradient routing, hand-computed values) live in each method's
own test file.
"""

import functools
import glob
import os

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from attn_rl.core import evaluators, loop, parallel
from attn_rl.core import method as method_lib
from attn_rl.data import pipeline, sequences, video
from tests.helpers import ROOT, collectives_in_loops, load_config, read_metrics

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not os.path.basename(p).startswith("_"))
# The config whose quicktest network each method's step contract runs on.
STEP_CONFIGS = {"ram": ("ram_clutter.py", "quicktest"),
                "topdown": ("topdown_clutter100.py", "quicktest"),
                "dreal": ("dreal_clutter.py", "cbam,quicktest"),
                "reid": ("reid_digits.py", "quicktest"),
                "dram": ("dram_multidigit.py", "full,quicktest"),
                "seq_cnn": ("dram_multidigit.py", "cnn,quicktest"),
                "video": ("video_moving_mnist.py", "quicktest")}


def test_every_method_has_a_step_config():
  assert set(STEP_CONFIGS) == set(method_lib.names())


@functools.cache
def setup(name, batch=16, optimizer=None):
  """The method's quicktest config (constant learning rate; `optimizer` replaces its
  optimiser's name), method, model, initial state and a batch of `batch` examples."""
  path, arg = STEP_CONFIGS[name]
  overrides = {"optim.schedule": "constant"}
  if optimizer:
    overrides["optim.name"] = optimizer
  config = load_config(os.path.join(ROOT, "configs", path), arg, **overrides)
  method = method_lib.get(name).for_config(config)
  method.validate(config)
  model = method.make_model(config, pipeline.num_classes(config.data))
  shape = pipeline.image_shape(config.data)
  state = jax.jit(lambda k: method.init_state(config, model, k, shape))(jax.random.key(0))
  rng = np.random.default_rng(0)
  data = {"image": jnp.asarray(rng.integers(0, 256, (batch, *shape)), jnp.uint8),
          "label": jnp.asarray(rng.integers(0, 10, batch), jnp.int32)}
  if config.data.dataset in sequences.DATASETS:  # Label sequences and their lengths.
    fetch, _ = sequences.make_fetch(config.data, "train", seed=0)
    data = jax.tree.map(jnp.asarray, fetch(np.arange(batch), 0))
  if config.data.dataset == video.DATASET:  # Clips of feature cubes and their videos.
    clips, _ = video.make_batches(config.data, "train", seed=0, global_batch=batch)
    data = jax.tree.map(jnp.asarray, clips(0))
  return config, method, model, state, data


@pytest.mark.parametrize("name", method_lib.names())
def test_train_step_is_pure_traces_once_and_steps_every_group(name):
  config, method, model, state, batch = setup(name)
  chex.clear_trace_counter()
  step = jax.jit(chex.assert_max_traces(method.make_train_step(config, model), n=1))
  key = jax.random.key(7)
  s1, m1 = step(state, batch, key)
  s1b, m1b = step(state, batch, key)
  chex.assert_trees_all_equal((s1, m1), (s1b, m1b))
  s2, m2 = step(s1, batch, key)  # A new step number changes the draws, not the trace.
  chex.assert_trees_all_equal_shapes(state, s2)
  assert int(s2.step) == 2
  assert not all(float(m1[k]) == float(m2[k]) for k in m1)
  for k, v in m2.items():
    assert jnp.shape(v) == () and np.isfinite(float(v)), k
  assert {"loss/total", "acc"} <= set(m2) and set(method.log_keys) <= set(m2)
  for group, before in state.trainable.items():
    after = s1.trainable[group]
    moved = any(bool(jnp.any(a != b)) for a, b in zip(
        jax.tree.leaves(before.params), jax.tree.leaves(after.params), strict=True))
    assert moved and int(after.step) == 1, f"{name}: group {group} did not step"


@pytest.mark.parametrize("name", method_lib.names())
def test_one_and_eight_devices_give_the_same_step(name):
  assert jax.device_count() == 8
  # Plain SGD (momentum as configured) in place of each method's optimiser: a parameter's
  # difference is then the learning rate times its gradient's. Under Adam and AMSGrad a
  # gradient component near zero (re-ID's classifier columns of identities absent from the
  # batch) is divided by its own size, so all-reduce rounding moves its parameter by up to a
  # whole step either way (seen on AMD EPYC: 1.2e-3 at a 3e-3 learning rate), which says
  # nothing about the step under test.
  config, method, model, state, batch = setup(name, optimizer="sgd")
  results = []
  for n in (1, 8):
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": n}))
    repl = parallel.replicated(mesh)
    sharding = jax.tree.map(lambda _, r=repl: r, state)
    step = jax.jit(method.make_train_step(config, model),
                   in_shardings=(sharding, parallel.batch_sharded(mesh), repl),
                   out_shardings=(sharding, repl))
    s = jax.device_put(state, repl)
    b = parallel.global_batch(jax.device_get(batch), mesh)
    assert len(b["image"].sharding.device_set) == n
    if n == 8:  # The batch stays sharded through the time loop (see the eval step's test).
      assert not collectives_in_loops(step.lower(s, b, jax.random.key(1)).compile().as_text())
    for _ in range(2):
      s, metrics = step(s, b, jax.random.key(1))
    results.append(jax.device_get((s, metrics)))
  (s1, m1), (s8, m8) = results
  # A glimpse's entropy counts pixels over a threshold: all-reduce rounding in the first
  # update moves a later location by a hair, and a box-averaged pixel of one of DRAM's 288
  # glimpses may cross it (seen: 4e-4 of the mean). That glimpse's entropy weights its
  # REINFORCE term, so the second step's location gradients (the momentum traces) move too
  # (seen: 3.3e-4; every other method's worst leaf: 1.7e-6, 2026-12-06).
  entropy = "unified" in config and config.unified.entropy
  for k in m1:
    atol = 1e-3 if k == "entropy/mean" else 1e-5
    np.testing.assert_allclose(m1[k], m8[k], rtol=2e-4, atol=atol, err_msg=k)
  atol = 1e-3 if entropy else 1e-5
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(s1), jax.tree.leaves(s8),
                          strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol, err_msg=jax.tree_util.keystr(path))


def eval_batch(batch, mask):
  """The contract batch as an evaluation split gives it (retrieval: cameras, query flags)."""
  n = len(batch["label"])
  return {**batch, "mask": jnp.asarray(mask, jnp.float32), "index": jnp.arange(n),
          "camid": jnp.arange(n) % 3, "is_query": jnp.arange(n) % 4 == 0}


@pytest.mark.parametrize("name", method_lib.names())
def test_eval_step_outputs_are_masked_and_give_the_selection_metric(name):
  config, method, model, state, batch = setup(name)
  step = jax.jit(method.make_eval_step(config, model))
  evaluator = evaluators.get(method.evaluator)
  out = step(state, eval_batch(batch, [1.0] * 5 + [0.0] * 11), jax.random.key(0))
  summary = evaluator.summarize(jax.device_get(evaluator.accumulate(None, out)))
  assert method.selection_metric in summary
  if method.evaluator == "classification":
    assert float(out["count"]) == 5.0 and 0 <= float(out["correct"]) <= 5
    assert 0.0 <= summary["error"] <= 1.0
  elif method.evaluator == "video":  # The 5 real clips, each scored and its video too.
    assert summary["num_clips"] == 5.0 and 0.0 <= summary["error"] <= 1.0
  else:  # Retrieval: only the 5 real examples are ranked (2 queries, 3 gallery items).
    assert (summary["num_query"], summary["num_gallery"]) == (2, 3)
    assert 0.0 <= summary["map"] <= 1.0


@pytest.mark.parametrize("name", method_lib.names())
def test_on_eight_devices_the_eval_step_gathers_no_batch_inside_a_loop(name):
  """A batch sharded over devices stays sharded through the time loop: an all-gather there
  copies the whole batch to every device at every step (the video policy's `top_k` did), and
  on CPU with several devices such gathers deadlocked XLA's collectives (docs/throughput.md,
  "The worker that crashed in the video quicktest"). Gathering the outputs at the end is fine."""
  config, method, model, state, batch = setup(name)
  mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 8}))
  repl = parallel.replicated(mesh)
  step = jax.jit(method.make_eval_step(config, model),
                 in_shardings=(jax.tree.map(lambda _: repl, state), parallel.batch_sharded(mesh),
                               repl),
                 out_shardings=repl)
  b = parallel.global_batch(jax.device_get(eval_batch(batch, np.ones(16))), mesh)
  assert not collectives_in_loops(step.lower(state, b, jax.random.key(0)).compile().as_text())


def test_collectives_in_loops_finds_a_gather_in_a_scan():
  """The check above can fail: `lax.top_k` on a sharded batch inside a scan gathers it."""
  mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 8}))
  repl, sharded = parallel.replicated(mesh), parallel.batch_sharded(mesh)

  def top_in_scan(x):
    step = lambda c, _: (c + jax.lax.top_k(x + c, 2)[0].sum(), None)
    return jax.lax.scan(step, jnp.zeros(()), None, length=3)[0]

  x = jax.device_put(jnp.ones((16, 5)), sharded)
  compiled = jax.jit(top_in_scan, in_shardings=sharded, out_shardings=repl).lower(x).compile()
  assert collectives_in_loops(compiled.as_text())
  outside = jax.jit(lambda x: jax.lax.top_k(x, 2)[0].sum(), in_shardings=sharded,
                    out_shardings=repl).lower(x).compile()
  assert not collectives_in_loops(outside.as_text())


@pytest.mark.parametrize("name", method_lib.names())
def test_a_score_does_not_depend_on_the_eval_batch_size(name):
  """Examples draw their rollouts from their index: 16 examples scored as one batch and as
  two batches of 8 (in either order) give the same sums."""
  config, method, model, state, batch = setup(name)
  full = eval_batch(batch, np.ones(16))
  step = jax.jit(method.make_eval_step(config, model))
  key = jax.random.key(3)
  whole = jax.device_get(step(state, full, key))
  halves = [jax.device_get(step(state, jax.tree.map(lambda x, s=s: x[s], full), key))
            for s in (slice(8, 16), slice(0, 8))]
  for k, v in whole.items():
    if method.evaluator == "classification":
      np.testing.assert_allclose(v, halves[0][k] + halves[1][k], rtol=1e-5, err_msg=k)
    else:  # Per-example outputs: the two halves, in order, are the whole.
      np.testing.assert_allclose(v, np.concatenate([halves[1][k], halves[0][k]]), rtol=1e-5,
                                 atol=1e-6, err_msg=k)
  # The draws do depend on the key (stochastic methods): the sums are not constants.
  other = jax.device_get(step(state, full, jax.random.key(4)))
  if "correct_m1" in whole:
    assert any(float(whole[k]) != float(other[k]) for k in whole)


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_quicktest_trains_checkpoints_and_resumes(path, tmp_path):
  config = load_config(path)
  method = method_lib.get(config.method).for_config(config)
  metric = method.selection_metric
  straight = str(tmp_path / "straight")
  results = loop.train_and_evaluate(config, straight)
  assert results["finished"] and 0.0 <= results[metric] <= 1.0
  metrics = read_metrics(straight)
  assert any("train/loss/total" in m for m in metrics)
  val = [m for m in metrics if f"val/{metric}" in m]
  test = [m for m in metrics if f"test/{metric}" in m]
  assert val and len(test) == 1
  # The test split is scored on every metric validation reports.
  assert {k[4:] for k in val[0] if k.startswith("val/")} == {
      k[5:] for k in test[0] if k.startswith("test/")}
  assert os.path.exists(os.path.join(straight, "config.json"))
  assert os.path.isdir(os.path.join(straight, "checkpoints", "6"))
  if method.save_pictures and config.eval.num_pictures:
    assert glob.glob(os.path.join(straight, "pictures", "test_*.gif"))
    assert glob.glob(os.path.join(straight, "pictures", "validation_*.png"))

  # Interrupted after 4 steps, then rerun: the same final state and metrics.
  resumed = str(tmp_path / "resumed")
  partial = loop.train_and_evaluate(config, resumed, max_steps_this_run=4)
  assert not partial["finished"] and partial["step"] == 4
  # error_m1 only where evaluation has rollouts (not DREAL's deterministic networks).
  scores = lambda r: {k: r.get(k) for k in ("error", "error_m1", "nll", "selected_step",
                                            "val_error", "map", "rank1", "val_map")}
  finished = loop.train_and_evaluate(config, resumed)
  assert scores(finished) == scores(results)
  last = lambda w: [m for m in read_metrics(w) if m["step"] == 6]
  strip = lambda ms: [{k: v for k, v in m.items() if k not in ("time", "train/images_per_sec")}
                      for m in ms]
  assert strip(last(straight)) == strip(last(resumed))
  assert [m["step"] for m in read_metrics(resumed) if f"val/{metric}" in m] == [3, 6]
  # A finished run returns its stored results without training (or testing) again.
  assert loop.train_and_evaluate(config, resumed) == finished
