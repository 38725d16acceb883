"""Faults a real user meets, each tried for real: kill -9, a second run on the workdir, SIGTERM
and a second signal, a stop during validation, NaN, damaged checkpoints, extending a run,
resuming from a workdir's config.json. Nothing is lost, and what to do is said."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from attn_rl.core import checkpointing, loop
from attn_rl.core import workdir as workdir_lib
from attn_rl.data import batching, pipeline, splits
from tests.helpers import RAM_CONFIG, ROOT, interrupt_training_at, load_config, read_metrics

QUICK = f"--config={RAM_CONFIG}:quicktest"
CLI = [sys.executable, "-m", "attn_rl.main", QUICK, "--config.data.source=synthetic"]
ENV = {**os.environ, "XLA_FLAGS": ""}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """(results, metrics) of the RAM quicktest run straight through, shared by the tests here."""
  workdir = str(tmp_path_factory.mktemp("straight"))
  results = loop.train_and_evaluate(load_config(RAM_CONFIG), workdir)
  return results, read_metrics(workdir)


def strip(records):
  """Metrics without wall-clock fields: what a resumed run must reproduce exactly."""
  return [{k: v for k, v in r.items() if k not in ("time", "train/images_per_sec")}
          for r in records]


def saved_steps(workdir):
  return checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                    max_to_keep=100).manager.all_steps()


def wait_for(predicate, timeout=120.0):
  start = time.time()
  while not predicate():
    if time.time() - start > timeout:
      raise TimeoutError("the run did not get there in time")
    time.sleep(0.05)


def test_kill_9_loses_no_metric_and_the_resumed_run_matches(tmp_path):
  overrides = ["--config.train.num_steps=40", "--config.ckpt.every_steps=5",
               "--config.log.every_steps=1", "--config.eval.every_steps=8",
               "--config.ckpt.max_to_keep=100"]
  straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
  subprocess.run([*CLI, *overrides, f"--workdir={straight}"], check=True, env=ENV, cwd=ROOT,
                 capture_output=True)
  run = subprocess.Popen([*CLI, *overrides, f"--workdir={killed}"], env=ENV, cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    wait_for(lambda: any(s >= 10 for s in saved_steps(killed)))
  finally:
    run.kill()  # SIGKILL: no handler, no flush, no cleanup.
    run.wait()
  assert run.returncode == -signal.SIGKILL
  last = max(saved_steps(killed))
  on_disk = {r["step"] for r in read_metrics(killed) if "train/loss/total" in r}
  # Every step's record up to the checkpoint the next run resumes from is on disk.
  assert set(range(1, last + 1)) <= on_disk
  assert any("val/error" in r for r in read_metrics(killed) if r["step"] == 8)
  subprocess.run([*CLI, *overrides, f"--workdir={killed}"], check=True, env=ENV, cwd=ROOT,
                 capture_output=True)
  assert strip(read_metrics(killed)) == strip(read_metrics(straight))


def test_a_second_run_is_refused_and_sigterm_exits_75(tmp_path):
  workdir = str(tmp_path / "w")
  args = ["--config.train.num_steps=100000", "--config.log.every_steps=1",
          "--config.ckpt.every_steps=100000", f"--workdir={workdir}"]
  first = subprocess.Popen([*CLI, *args], env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
  try:
    metrics = os.path.join(workdir, "metrics.jsonl")
    wait_for(lambda: os.path.exists(metrics) and os.path.getsize(metrics) > 0)
    lines_before = open(metrics).read().count("\n")
    second = subprocess.run([*CLI, *args], env=ENV, cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 1
    assert f"is in use by another run (process {first.pid}" in second.stderr
    assert "another --workdir" in second.stderr.strip().splitlines()[-1]
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
  finally:
    first.kill()
  assert first.returncode == loop.EXIT_STOPPED, err[-2000:]
  # The stop saved a checkpoint at the step reached, and the refused run wrote nothing twice.
  records = read_metrics(workdir)
  assert saved_steps(workdir) == [records[-1]["step"]] and len(records) >= lines_before
  steps = [r["step"] for r in records if "train/loss/total" in r]
  assert steps == sorted(set(steps))
  # The lock died with its holder: the next run takes it.
  with workdir_lib.exclusive(workdir):
    pass


def test_a_lock_held_in_this_process_refuses_a_second_holder(tmp_path):
  with workdir_lib.exclusive(str(tmp_path)):
    with pytest.raises(workdir_lib.WorkdirBusyError, match=f"process {os.getpid()}"):
      with workdir_lib.exclusive(str(tmp_path)):
        pass


def test_sigterm_checkpoints_and_the_rerun_matches(tmp_path, monkeypatch, straight):
  config = load_config(RAM_CONFIG)
  interrupt_training_at(monkeypatch, {2})
  workdir = str(tmp_path / "w")
  first = loop.train_and_evaluate(config, workdir)
  assert first["stopped"] and not first["finished"] and first["step"] == 3
  assert saved_steps(workdir) == [2, 3]
  again = loop.train_and_evaluate(config, workdir)
  assert again["finished"] and again["error"] == straight[0]["error"]
  assert strip(read_metrics(workdir)) == strip(straight[1])


def test_a_second_signal_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
  config = load_config(RAM_CONFIG)
  interrupt_training_at(monkeypatch, {4}, signals=2)
  workdir = str(tmp_path / "w")
  with pytest.raises(loop.StoppedError, match="Second signal"):
    loop.train_and_evaluate(config, workdir)
  assert saved_steps(workdir) == [2, 4]  # Step 4's save was in flight: it completed.
  assert not glob.glob(os.path.join(workdir, "checkpoints", "*tmp*"))
  monkeypatch.undo()
  assert loop.train_and_evaluate(config, workdir)["finished"]


def test_a_stop_during_validation_resumes_with_that_validation(tmp_path, monkeypatch,
                                                                straight):
  config = load_config(RAM_CONFIG)
  real = pipeline.make_batches

  class Interrupting(list):
    """Validation batches that send SIGTERM when the second batch of step 3's is taken."""

    def __iter__(self):
      for i, b in enumerate(list.__iter__(self)):
        if i == 1 and not getattr(self, "done", False):
          self.done = True
          os.kill(os.getpid(), signal.SIGTERM)
        yield b

  def make_batches(data, split, **kw):
    batches, n = real(data, split, **kw)
    return (Interrupting(batches) if split == "validation" else batches), n

  monkeypatch.setattr(pipeline, "make_batches", make_batches)
  workdir = str(tmp_path / "w")
  first = loop.train_and_evaluate(config, workdir)
  assert first["stopped"] and first["step"] == 3
  assert not any("val/error" in r for r in read_metrics(workdir))
  monkeypatch.undo()
  assert loop.train_and_evaluate(config, workdir)["finished"]
  assert strip(read_metrics(workdir)) == strip(straight[1])


def test_nan_names_a_checkpoint_that_exists_and_a_lower_rate_resumes_from_it(tmp_path):
  workdir = str(tmp_path / "w")
  bad = load_config(RAM_CONFIG, **{"train.num_steps": 20, "optim.learning_rate": 1e6,
                                   "optim.schedule": "constant", "optim.grad_clip_norm": 0.0})
  with pytest.raises(FloatingPointError, match=r"Non-finite .* step (\d+)") as error:
    loop.train_and_evaluate(bad, workdir)
  message = str(error.value)
  assert "--config.optim.learning_rate" in message
  saved = saved_steps(workdir)
  if "No checkpoint was saved yet" in message:
    assert saved == []
  else:
    named = int(message.split("The last checkpoint (step ")[1].split(")")[0])
    assert saved and max(saved) == named
  assert not glob.glob(os.path.join(workdir, "checkpoints", "*tmp*"))
  # The advice works: the same config with a sane rate resumes (or starts) and finishes.
  good = load_config(RAM_CONFIG, **{"train.num_steps": 20, "optim.learning_rate": 1e-3,
                                    "optim.schedule": "constant", "optim.grad_clip_norm": 0.0})
  assert loop.train_and_evaluate(good, workdir)["finished"]
  if saved:
    assert any("config/optim.learning_rate" in r for r in read_metrics(workdir))


def test_nan_before_any_checkpoint_says_so(tmp_path):
  config = load_config(RAM_CONFIG, **{"train.num_steps": 20, "optim.learning_rate": 1e30,
                                      "optim.schedule": "constant", "optim.grad_clip_norm": 0.0,
                                      "ckpt.every_steps": 1000})
  with pytest.raises(FloatingPointError, match="No checkpoint was saved yet"):
    loop.train_and_evaluate(config, str(tmp_path / "w"))


def _truncate_largest_file(folder):
  files = [p for p in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
           if os.path.isfile(p) and "meta" not in os.path.relpath(p, folder).split(os.sep)[0]]
  target = max(files, key=os.path.getsize)
  with open(target, "r+b") as f:
    f.truncate(os.path.getsize(target) // 2)


def _break_metadata(folder):
  os.remove(glob.glob(os.path.join(folder, "meta", "*"))[0])


def _garble_metadata(folder):
  for path in glob.glob(os.path.join(folder, "meta", "*")):
    with open(path, "w") as f:
      f.write("{not json")


@pytest.mark.parametrize("damage", [_truncate_largest_file, _break_metadata, _garble_metadata],
                         ids=["truncated_data", "missing_meta", "garbled_meta"])
def test_a_damaged_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, damage, straight):
  config = load_config(RAM_CONFIG)
  workdir = str(tmp_path / "w")
  loop.train_and_evaluate(config, workdir, max_steps_this_run=4)
  assert saved_steps(workdir) == [2, 4]
  damage(os.path.join(workdir, "checkpoints", "4"))
  resumed = loop.train_and_evaluate(config, workdir)
  assert resumed["finished"] and resumed["error"] == straight[0]["error"]
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "4.damaged"))
  assert strip(read_metrics(workdir)) == strip(straight[1])


def test_no_intact_checkpoint_is_an_error_naming_the_folders(tmp_path):
  config = load_config(RAM_CONFIG)
  workdir = str(tmp_path / "w")
  loop.train_and_evaluate(config, workdir, max_steps_this_run=2)
  _truncate_largest_file(os.path.join(workdir, "checkpoints", "2"))
  with pytest.raises(checkpointing.CheckpointDamagedError, match="checkpoints/2: "):
    loop.train_and_evaluate(config, workdir)
  # As the message says, the rerun trains from scratch.
  assert loop.train_and_evaluate(config, workdir)["finished"]


def test_a_run_extends_with_a_constant_schedule_but_not_a_cosine_one(tmp_path):
  workdir = str(tmp_path / "w")
  constant = {"optim.schedule": "constant"}
  assert loop.train_and_evaluate(load_config(RAM_CONFIG, **constant), workdir)["step"] == 6
  longer = loop.train_and_evaluate(
      load_config(RAM_CONFIG, **constant, **{"train.num_steps": 8}), workdir)
  assert longer["finished"] and longer["step"] == 8
  assert any(r.get("config/train.num_steps") == 8 for r in read_metrics(workdir))
  cosine = str(tmp_path / "cosine")
  loop.train_and_evaluate(load_config(RAM_CONFIG), cosine)
  with pytest.raises(checkpointing.ConfigMismatchError, match="can be extended only"):
    loop.train_and_evaluate(load_config(RAM_CONFIG, **{"train.num_steps": 8}), cosine)
  # Clipping may change its threshold on resume, not switch off.
  with pytest.raises(checkpointing.ConfigMismatchError, match="not switch on or off"):
    loop.train_and_evaluate(
        load_config(RAM_CONFIG, **constant, **{"train.num_steps": 10,
                                                "optim.grad_clip_norm": 0.0}), workdir)


def test_cli_resumes_from_a_workdir_config_json_visualizes_and_names_a_key_typo(tmp_path):
  workdir = str(tmp_path / "w")
  subprocess.run([*CLI, f"--workdir={workdir}", "--max_steps_this_run=2"], check=True, env=ENV,
                 cwd=ROOT, capture_output=True)
  # The config.json of the workdir, with no --workdir: the run goes back to that workdir.
  done = subprocess.run([sys.executable, "-m", "attn_rl.main",
                         f"--config={workdir}/config.json"], env=ENV, cwd=ROOT,
                        capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  assert json.load(open(os.path.join(workdir, "results.json")))["finished"]
  # The visualize tool draws the finished workdir's test images.
  out = str(tmp_path / "pics")
  subprocess.run([sys.executable, "-m", "attn_rl.tools.visualize", f"--workdir={workdir}",
                  f"--out={out}", "--num=2"], check=True, env=ENV, cwd=ROOT, capture_output=True)
  assert len(glob.glob(os.path.join(out, "*.gif"))) == len(glob.glob(os.path.join(out, "*.png")))
  assert len(glob.glob(os.path.join(out, "*.gif"))) == 2
  typo = subprocess.run([*CLI, "--config.model.num_glimpse=3", f"--workdir={workdir}_t"],
                        env=ENV, cwd=ROOT, capture_output=True, text=True)
  assert typo.returncode == 2
  assert typo.stderr.strip().splitlines() == [
      "--config.model.num_glimpse: the config has no key 'num_glimpse'. Did you mean "
      "\"num_glimpses\" instead of \"num_glimpse\"? (every key: docs/configs.md, or the config "
      "file)."]


SHARED_TFDS = os.path.join(ROOT, "..", "shared", "data", "tensorflow_datasets")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_TFDS, "mnist")),
                    reason="needs the prepared MNIST of ../shared")
@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_a_damaged_dataset_file_is_named_before_training(tmp_path, monkeypatch, damage):
  """A copy of the real ArrayRecord MNIST with its test file damaged: the run stops before
  training, naming the file (the test split is read at the start, though scored at the end)."""
  copy = tmp_path / "tfds"
  shutil.copytree(os.path.join(SHARED_TFDS, "mnist"), copy / "mnist")
  (test_file,) = glob.glob(str(copy / "mnist" / "*" / "mnist-test.array_record-*"))
  size = os.path.getsize(test_file)
  with open(test_file, "r+b") as f:
    if damage == "truncate":
      f.truncate(size // 2)
    else:
      f.seek(size // 3)
      f.write(os.urandom(4096))
  config = load_config(RAM_CONFIG, **{"data.source": "tfds", "data.tfds_data_dir": str(copy)})

  def no_training(*args, **kwargs):
    raise AssertionError("training started on a damaged dataset")

  monkeypatch.setattr(batching, "train_dataset", no_training)
  with pytest.raises(splits.DatasetCorruptError, match=re.escape(test_file)):
    loop.train_and_evaluate(config, str(tmp_path / "w"))
