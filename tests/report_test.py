"""The results report: a function of the run files, nothing else."""

import json
import os

import pytest

from attn_rl.core import provenance
from attn_rl.methods.dram import paper as dram_paper
from attn_rl.methods.dreal import paper as dreal_paper
from attn_rl.methods.ram import paper as ram_paper
from attn_rl.methods.topdown import paper as topdown_paper
from attn_rl.methods.video import paper as video_paper
from attn_rl.tools import report


def _fake_run(root, name, error, error_m1, seed_curve, config=None, **results):
  d = os.path.join(root, name)
  os.makedirs(d)
  with open(os.path.join(d, "results.json"), "w") as f:
    json.dump({"finished": True, "step": 30, "error": error, "error_m1": error_m1, "nll": 0.1,
               "selected_step": 20, "val_error": 0.05, "eval_rollouts": 8, "git_commit": "abc1234",
               "date": "2026-11-21 10:00:00", "train_seconds": 600.0, "devices": "1 x cpu",
               **results}, f)
  with open(os.path.join(d, "config.json"), "w") as f:
    json.dump(config or {"seed": 0}, f)
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
  assert clutter["hardware"] == ["1 x cpu"]  # Recorded before cpu_model: the devices only.
  text = ram_paper.table(rows)
  assert "6.00% ± 1.00 (5.00, 6.00, 7.00) (M=8)" in text and "| 4.04% |" in text
  readme = tmp_path / "README.md"
  begin, end = ram_paper.MARKERS
  readme.write_text(f"intro\n{begin}\nold\n{end}\noutro\n")
  report.update_readme(str(readme), text, begin, end)
  assert readme.read_text() == f"intro\n{begin}\n{text}\n{end}\noutro\n"
  readme.write_text("no markers")
  with pytest.raises(ValueError, match="markers"):
    report.update_readme(str(readme), text, begin, end)


def test_config_variant_rows_name_the_variant(tmp_path):
  records = [report.collect_run(_fake_run(tmp_path, name, e, 2 * e, [(10, e)]))
             for name, e in (("ram_mnist_glimpses7_s0", 0.011), ("ram_mnist_s0", 0.012))]
  lines = ram_paper.table(report.summarize(records)).splitlines()[2:]
  assert lines[0].startswith("| 28x28 MNIST, 6 glimpses 8x8, 1 scale | `configs/ram_mnist.py` |")
  assert lines[1].startswith(
      "| 28x28 MNIST, 7 glimpses 8x8, 1 scale | `configs/ram_mnist.py:glimpses7` | 1 | 1.10%")
  assert "| 1.07% |" in lines[1]


def test_hardware_names_each_cpu_model(tmp_path):
  runs = [_fake_run(tmp_path, f"ram_mnist_s{i}", 0.02, 0.04, [(10, 0.03)], cpu_model=cpu)
          for i, cpu in enumerate(("AMD EPYC 7B13", "Intel(R) Xeon(R) Processor", "AMD EPYC 7B13"))]
  (row,) = report.summarize([report.collect_run(d) for d in runs])
  assert row["hardware"] == ["1 x cpu, AMD EPYC 7B13", "1 x cpu, Intel(R) Xeon(R) Processor"]
  assert provenance.provenance()["cpu_model"]  # This machine's, never empty.


def test_collect_copies_outputs_not_checkpoints(tmp_path):
  work = _fake_run(tmp_path / "runs", "ram_mnist_s3", 0.02, 0.04, [(10, 0.03)])
  os.makedirs(os.path.join(work, "checkpoints", "10"))
  os.makedirs(os.path.join(work, "pictures"))
  for name in ("test_step10_0.png", "validation_step10_0.png"):
    open(os.path.join(work, "pictures", name), "w").close()
  (dst,) = report.collect_workdir(work, str(tmp_path / "results"))
  assert sorted(os.listdir(dst)) == ["config.json", "metrics.jsonl", "pictures", "results.json"]
  assert os.listdir(os.path.join(dst, "pictures")) == ["test_step10_0.png"]
  with pytest.raises(FileNotFoundError, match="not finished"):
    report.collect_workdir(str(tmp_path), str(tmp_path / "results"))


def _topdown_config(topdown, entropy, context, glimpses, canvas=100, net=None):
  data = ({"canvas_size": 100, "task": "cluttered", "num_clutter": 8} if canvas == 100 else
          {"canvas_size": 28, "task": "plain", "num_clutter": 0})
  # net=None: a run recorded before model.glimpse_net existed (it had the conv network).
  model = {"num_glimpses": glimpses, **({"glimpse_net": net} if net else {})}
  return {"method": "topdown", "seed": 0, "train": {"num_steps": 6000}, "data": data,
          "model": model, "topdown": {"enabled": topdown},
          "bottomup": {"entropy": entropy, "context": context}}


def test_ablation_table_reads_arms_from_configs(tmp_path):
  command = "python -m attn_rl.main --config=configs/topdown_clutter100.py:full,glimpses6"
  records = [
      report.collect_run(_fake_run(
          tmp_path, f"td_full_s{i}", e, 0.4, [(10, e)], _topdown_config(True, True, True, 6),
          command=command, test={"error": e, "error_m1": 0.4, "error_context": 0.5}))
      for i, e in enumerate((0.20, 0.30))]
  records.append(report.collect_run(_fake_run(
      tmp_path, "td_ram_s0", 0.35, 0.45, [(10, 0.35)], _topdown_config(False, False, False, 6))))
  records.append(report.collect_run(_fake_run(tmp_path, "ram_clutter100_s0", 0.15, 0.27,
                                              [(10, 0.15)])))
  # Table 1: 28x28 MNIST, the fully connected glimpse network, entropy and context without
  # the top-down start; our RAM on MNIST beside it.
  records.append(report.collect_run(_fake_run(
      tmp_path, "td_mnist_ec_s0", 0.011, 0.02, [(10, 0.011)],
      _topdown_config(False, True, True, 6, canvas=28, net="mlp"))))
  records.append(report.collect_run(_fake_run(tmp_path, "ram_mnist_s0", 0.012, 0.02,
                                              [(10, 0.012)])))
  assert records[0]["command"] == command
  assert records[2]["command"].startswith("python -m attn_rl.main --config=configs/td_ram.py")
  rows = report.summarize(records)
  text = topdown_paper.table(rows)
  lines = text.splitlines()[2:]
  # The task and arm come from the config: MNIST first with our RAM after it, then 100x100:
  # RAM, the full model, our RAM for scale.
  assert lines[0].startswith("| 28x28 MNIST | 6 | fully connected | + entropy + context | 1 | "
                             "6000 | 1.10% (M=8)")
  assert "| 1.01% |" in lines[0]
  assert lines[1].startswith("| 28x28 MNIST | 6 | fully connected | our RAM from the RAM table "
                             "(`configs/ram_mnist.py`")
  assert lines[2].startswith("| 100x100 cluttered (8 pieces) | 6 | conv | RAM | 1 | 6000 | "
                             "35.00% (M=8)")
  assert "| 29.80% |" in lines[2]
  assert lines[3].startswith("| 100x100 cluttered (8 pieces) | 6 | conv | "
                             "+ top-down + entropy + context (full) | 2 | 6000 | "
                             "25.00% ± 7.07 (20.00, 30.00) (M=8) | 40.00% | 50.00% | 20.30% |")
  assert "our RAM from the RAM table (`configs/ram_clutter100.py`" in lines[4]
  assert "| 10.83% |" not in lines[4]  # Not in the column of Chen et al.'s figures.
  # The RAM table leaves the top-down runs out.
  assert "td_full" not in ram_paper.table(rows) and "ram_clutter100_s0" in ram_paper.table(rows)


def test_arm_names_follow_the_pieces_switched_on():
  assert topdown_paper.arm_name((False, False, False)) == "RAM"
  assert topdown_paper.arm_name((False, True, True)) == "+ entropy + context"
  assert topdown_paper.arm_name((True, True, True)) == "+ top-down + entropy + context (full)"
  assert len(set(map(topdown_paper.arm_name, topdown_paper.ARM_ORDER))) == 8


def test_command_line():
  argv = ["/repo/attn_rl/main.py", "--config=configs/x.py:a,b", "--w=a b"]
  assert provenance.command_line(argv) == (
      "python -m attn_rl.main --config=configs/x.py:a,b '--w=a b'")
  assert provenance.command_line(["/usr/bin/pytest", "-q"]) == "/usr/bin/pytest -q"
  assert provenance.command_line(["/repo/attn_rl/tools/report.py", "--readme="]) == (
      "python -m attn_rl.tools.report --readme=")


def test_dreal_table_pairs_vanilla_and_critics(tmp_path):
  def config(attention, critics, **knobs):
    return {"method": "dreal", "seed": 0, "train": {"num_steps": 2000},
            "model": {"attention": attention}, "dreal": {"critics": critics, **knobs}}

  # The last run changes two recipe knobs; a run recorded before the knobs existed (no keys)
  # and one that states the paper's values are both the paper's recipe.
  runs = (("d_se_s0", 0.05, "se", True, {}), ("d_se_van_s0", 0.06, "se", False, {}),
          ("d_cbam_s0", 0.04, "cbam", True, {"q_weight": 1.0, "critic_hidden": 1}),
          ("d_se_qw_s0", 0.03, "se", True, {"q_weight": 0.1, "redraw_every_steps": 390}))
  records = [report.collect_run(_fake_run(tmp_path, name, e, e, [(10, e)], config(a, c, **k)))
             for name, e, a, c, k in runs]
  lines = dreal_paper.table(report.summarize(records)).splitlines()[2:]
  assert [line.split(" | ")[:3] for line in lines] == [
      ["| CBAM", "yes", "paper's"], ["| SE", "no (vanilla)", ""], ["| SE", "yes", "paper's"],
      ["| SE", "yes", "q_weight=0.1, redraw_every_steps=390"]]
  assert "| 2000 | 6.00% |" in lines[1]
  assert "d_se" not in ram_paper.table(report.summarize(records))


def test_dram_table_names_each_arm_and_its_policy(tmp_path):
  def config(method="dram", policy="learned", scale=1.0, std=0.1, entropy=False):
    return {"method": method, "seed": 0, "train": {"num_steps": 4000},
            "data": {"dataset": "mnist_pairs"},
            "model": {"context": True, "location_mean": "linear", "policy": policy,
                      "loc_std": std},
            "optim": {"learning_rate": 3e-3, "location_lr_scale": scale},
            "unified": {"entropy": entropy, "context": False}}

  runs = (("p_dram_old_s0", config()), ("p_dram_s0", config(scale=0.1, std=0.15)),
          ("p_ent_s0", config(scale=0.1, std=0.15, entropy=True)),
          ("p_scan_s0", config(policy="scan")), ("p_cnn_s0", {"method": "seq_cnn", "seed": 0,
           "train": {"num_steps": 4000}, "data": {"dataset": "mnist_pairs"}}))
  records = [report.collect_run(_fake_run(tmp_path, name, 0.5, 0.5, [(10, 0.5)], c,
                                          error_digit=0.3, error_det=0.4))
             for name, c in runs]
  lines = dram_paper.table(report.summarize(records)).splitlines()[2:]
  assert [line.split(" | ")[1:3] for line in lines] == [
      ["CNN (Goodfellow-style)", ""], ["fixed raster, no RL (control)", "none"],
      ["DRAM", "rate 3e-03, σ 0.1"], ["DRAM", "rate 3e-04, σ 0.15"],
      ["unified (entropy)", "rate 3e-04, σ 0.15"]]
  # The paper's DRAM number stands beside both DRAM rows, none beside the control.
  assert "| 5.00% |" in lines[2] and "| 5.00% |" in lines[3] and "5.00%" not in lines[1]


def test_a_multi_seed_workdir_collects_one_run_per_seed_marked(tmp_path):
  work = tmp_path / "runs" / "ram_mnist"
  for k in range(2):
    _fake_run(str(work), f"seed_{k}", 0.02 + k / 100, 0.04, [(10, 0.03)],
              config={"seed": 3 + k}, num_seeds=2)
  dsts = report.collect_workdir(str(work), str(tmp_path / "results"))
  assert [os.path.basename(d) for d in dsts] == ["ram_mnist_s3", "ram_mnist_s4"]
  (row,) = report.summarize([report.collect_run(d) for d in dsts])
  assert row["seeds"] == [3, 4] and row["seeds_per_process"] == [2, 2]
  assert "| 10 min (2 seeds in one process) |" in ram_paper.table([row])


def test_video_table_reports_error_or_map_by_label_mode_and_the_papers_other_data(tmp_path):
  def config(attention, glimpses=5, multilabel=False):
    return {"method": "video", "seed": 0, "train": {"num_steps": 1560},
            "data": {"layout": "folder", "multilabel": multilabel,
                     "root": f"runs/cubes/moving_mnist_{'multi' if multilabel else 'single'}"},
            "model": {"attention": attention, "glimpses": glimpses, "policy_input": "state"}}

  single = {"error": 0.2, "error_m1": 0.3, "error_det": 0.25, "error_clip": 0.2, "reads": 5.0}
  multi = {"error": 0.1, "map": 0.8, "map_m1": 0.7, "map_det": 0.75, "map_clip": 0.8,
           "reads": 64.0}
  no_penalty = {**config("hard"), "rl": {"penalty": 0.0}}
  where = config("soft")
  where["model"]["where"] = "map"
  motion = config("mean")
  motion["model"]["motion"] = True
  runs = (("s_soft_s0", config("soft"), single), ("s_hard_s0", config("hard"), single),
          ("s_mean_s0", config("mean"), single), ("s_free_s0", no_penalty, single),
          ("m_unl_s0", config("hard", 0, True), multi), ("s_where_s0", where, single),
          ("s_motion_s0", motion, single))
  records = [report.collect_run(_fake_run(tmp_path, name, t["error"], 0.3, [(10, 0.5)], c,
                                          test=t)) for name, c, t in runs]
  lines = video_paper.table(report.summarize(records)).splitlines()[2:]
  cells = [line.split(" | ") for line in lines]
  assert [(c[0][2:], c[1]) for c in cells] == [
      ("moving_mnist_multi", "hard, unlimited"), ("moving_mnist_single", "no attention (mean "
       "slice)"), ("moving_mnist_single", "no attention (mean slice), + motion features "
       "(control)"), ("moving_mnist_single", "soft attention"),
      ("moving_mnist_single", "soft attention, + where (map; ours)"),
      ("moving_mnist_single", "hard, 5 glimpses"),
      ("moving_mnist_single", "hard, 5 glimpses, λ = 0")]
  assert cells[0][5] == "80.00% mAP" and cells[0][8] == "70.00%" and cells[0][9] == "64.0"
  assert cells[0][10] == "ActivityNet mAP 69.13"
  assert cells[5][5] == "20.00%" and cells[5][7] == "25.00%" and cells[5][10] == (
      "HMDB-51 acc 50.06")
  assert cells[1][10] == ""  # No paper number for the no-attention control,
  assert cells[2][10] == cells[4][10] == ""  # nor for the marked variants.


def test_a_method_with_a_docs_page_gets_its_table_there_with_links_from_that_page(tmp_path):
  readme = str(tmp_path / "README.md")
  table = "| x | [s0](results/run_s0/run.json) |"
  assert report.table_target(readme, ram_paper, table) == (readme, table)
  path, text = report.table_target(readme, video_paper, table)
  assert path == str(tmp_path / "docs" / "video.md")
  assert text == "| x | [s0](../results/run_s0/run.json) |"
