"""Metric writers: append locally, rewrite-whole mode for object stores (gs://)."""

import json

from attn_rl.core import metric_writers


def _steps(path):
  return [r["step"] for r in metric_writers.read_jsonl(path)]


def test_append_and_rewrite_modes_write_the_same_lines(tmp_path):
  for append in (True, False):
    workdir = tmp_path / f"append_{append}"
    w = metric_writers.MetricWriter(str(workdir), tensorboard=False, append=append)
    w.write_scalars(1, {"a": 1.0})
    w.flush()
    assert _steps(workdir / "metrics.jsonl") == [1]
    w.write_scalars(2, {"a": 2.0})
    w.close()
    # A second writer (a resumed run) keeps what is there and adds to it.
    w = metric_writers.MetricWriter(str(workdir), tensorboard=False, append=append)
    w.write_scalars(3, {"b": 3.0})
    w.close()
    assert _steps(workdir / "metrics.jsonl") == [1, 2, 3]
    last = json.loads((workdir / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["b"] == 3.0


def test_disabled_writer_writes_nothing(tmp_path):
  w = metric_writers.MetricWriter(str(tmp_path / "w"), enabled=False)
  w.write_scalars(1, {"a": 1.0})
  w.close()
  assert not (tmp_path / "w").exists()
