"""The results report: a function of the run files, nothing else."""

import json
import os

import pytest

from attn_rl import report


def _fake_run(root, name, error, error_m1, seed_curve):
  d = os.path.join(root, name)
  os.makedirs(d)
  with open(os.path.join(d, "results.json"), "w") as f:
    json.dump({"finished": True, "step": 30, "error": error, "error_m1": error_m1, "nll": 0.1,
               "selected_step": 20, "val_error": 0.05, "eval_rollouts": 8, "git_commit": "abc1234",
               "date": "2026-11-21 10:00:00", "train_seconds": 600.0, "devices": "1 x cpu"}, f)
  with open(os.path.join(d, "config.json"), "w") as f:
    json.dump({"seed": 0}, f)
  with open(os.path.join(d, "metrics.jsonl"), "w") as f:
    for step, err in seed_curve:
      f.write(json.dumps({"step": step, "train/loss/total": 1.0}) + "\n")
      f.write(json.dumps({"step": step, "val/error": err, "val/error_m1": 2 * err}) + "\n")
  return d


def test_summary_and_table(tmp_path):
  runs = [_fake_run(tmp_path, f"ram_clutter_s{i}", e, e + 0.02, [(10, 0.2), (20, e)])
          for i, e in enumerate((0.05, 0.06, 0.07))]
  _fake_run(tmp_path, "ram_mnist_s0", 0.02, 0.04, [(10, 0.03)])
  os.makedirs(tmp_path / "unfinished_s0")
  records = [report.collect_run(d) for d in runs]
  assert records[1]["seed"] == 1 and records[1]["config"] == "ram_clutter"
  assert records[0]["validation_curve"] == [
      {"step": 10, "error": 0.2, "error_m1": 0.4}, {"step": 20, "error": 0.05, "error_m1": 0.1}]
  assert report.collect_run(str(tmp_path / "unfinished_s0")) is None
  records.append(report.collect_run(str(tmp_path / "ram_mnist_s0")))
  rows = report.summarize(records)
  assert [r["config"] for r in rows] == ["ram_mnist", "ram_clutter"]  # The paper's order.
  clutter = rows[1]
  assert clutter["test_error_mean"] == pytest.approx(6.0)
  assert clutter["test_error_std"] == pytest.approx(1.0)
  assert clutter["test_error_m1_mean"] == pytest.approx(8.0)
  text = report.table(rows)
  assert "6.00% ± 1.00 (5.00, 6.00, 7.00) (M=8)" in text and "| 4.04% |" in text
  readme = tmp_path / "README.md"
  readme.write_text(f"intro\n{report.BEGIN}\nold\n{report.END}\noutro\n")
  report.update_readme(str(readme), text)
  assert readme.read_text() == f"intro\n{report.BEGIN}\n{text}\n{report.END}\noutro\n"
  readme.write_text("no markers")
  with pytest.raises(ValueError, match="markers"):
    report.update_readme(str(readme), text)


def test_collect_copies_outputs_not_checkpoints(tmp_path):
  work = _fake_run(tmp_path / "runs", "ram_mnist_s3", 0.02, 0.04, [(10, 0.03)])
  os.makedirs(os.path.join(work, "checkpoints", "10"))
  os.makedirs(os.path.join(work, "pictures"))
  for name in ("test_step10_0.png", "validation_step10_0.png"):
    open(os.path.join(work, "pictures", name), "w").close()
  dst = report.collect_workdir(work, str(tmp_path / "results"))
  assert sorted(os.listdir(dst)) == ["config.json", "metrics.jsonl", "pictures", "results.json"]
  assert os.listdir(os.path.join(dst, "pictures")) == ["test_step10_0.png"]
  with pytest.raises(FileNotFoundError, match="not finished"):
    report.collect_workdir(str(tmp_path), str(tmp_path / "results"))
