"""The table scripts of launch/ and their queue (launch/queue.sh), run against a stand-in
`python` that records its arguments and core and writes a finished run's results.json: each
run trains once with its command, a finished run is skipped (in the runs folder or collected in
results/), an unfinished one is run again, PARALLEL workers are pinned to cores of their own,
and a bad budget or arm stops before any run."""

import json
import os
import subprocess

import pytest

from tests.helpers import ROOT

# Records "CORES ARGS..." and, for attn_rl.main, writes what a finished run leaves.
FAKE_PYTHON = r"""#!/bin/bash
echo "$(taskset -cp $$ | sed 's/.*: //') $*" >> "$FAKE_LOG"
[ "$2" = attn_rl.main ] || exit 0
seeds=
for a in "$@"; do
  case $a in --workdir=*) workdir=${a#*=} ;; --config.train.num_seeds=*) seeds=${a#*=} ;; esac
done
if [ -n "$seeds" ]; then
  for ((k = 0; k < seeds; k++)); do
    mkdir -p "$workdir/seed_$k" && echo '{"finished": true}' > "$workdir/seed_$k/results.json"
  done
else
  mkdir -p "$workdir" && echo '{"finished": true}' > "$workdir/results.json"
fi
"""


def run_script(tmp_path, script, *args, parallel=1, arms=None, results=None):
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir(exist_ok=True)
  (bin_dir / "python").write_text(FAKE_PYTHON)
  (bin_dir / "python").chmod(0o755)
  log = tmp_path / "calls.txt"
  log.write_text("")
  env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log),
         "PARALLEL": str(parallel), **({"ARMS": arms} if arms else {}),
         # An empty results/ unless given: the repository's own holds collected runs.
         "RESULTS_DIR": str(results or tmp_path / "no_results")}
  done = subprocess.run(["bash", os.path.join(ROOT, "launch", script), *args], cwd=ROOT,
                        env=env, capture_output=True, text=True, timeout=120)
  calls = [line.split(" ", 1) for line in log.read_text().splitlines()]
  return done, [(cores, args.split()) for cores, args in calls]


def trained(calls):
  return {a[-1].removeprefix("--workdir="): (cores, a[2:-1]) for cores, a in calls
          if a[1] == "attn_rl.main"}


def finish(workdir, seeds=None, finished=True):
  for d in [workdir] if seeds is None else [workdir / f"seed_{k}" for k in range(seeds)]:
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps({"finished": finished}, indent=1))


def test_topdown_table_trains_each_run_once_skips_finished_ones_and_collects_them(tmp_path):
  runs, results = tmp_path / "runs", tmp_path / "results"
  for seed in range(3):  # RAM's 8-glimpse runs were collected in an earlier sitting.
    finish(results / f"topdown_clutter100_ram_g8_mlp_s{seed}")
  finish(runs / "topdown_clutter100_full_g6_40k_s1", finished=False)  # Stopped: resumes.
  finish(runs / "topdown_clutter100_topdown_g8_mlp_s1")
  finish(runs / "topdown_clutter100_old_g8_mlp", seeds=3)  # Several seeds in one process.
  assert subprocess.run(["bash", "-c", f"source launch/queue.sh; finished {runs}/"
                         "topdown_clutter100_old_g8_mlp"], cwd=ROOT).returncode == 0
  (runs / "topdown_clutter100_old_g8_mlp" / "seed_2" / "results.json").unlink()
  assert subprocess.run(["bash", "-c", f"source launch/queue.sh; finished {runs}/"
                         "topdown_clutter100_old_g8_mlp"], cwd=ROOT).returncode == 1
  done, calls = run_script(tmp_path, "topdown_clutter100_table.sh", str(runs), results=results)
  assert done.returncode == 0, done.stderr
  got = trained(calls)
  # 3 collected RAM runs and a finished top-down one are skipped; then the report.
  assert len(got) == len(calls) - 1 == 21 - 4
  config = "--config=configs/topdown_clutter100.py:"
  assert got[f"{runs}/topdown_clutter100_topdown_g8_mlp_s2"][1] == [
      f"{config}topdown,glimpses8,mlp,clutter10", "--config.seed=2"]
  assert got[f"{runs}/topdown_clutter100_topdown_entropy_g6_40k_s2"][1] == [
      f"{config}topdown,entropy,glimpses6", "--config.seed=2"]
  assert f"{runs}/topdown_clutter100_full_g6_40k_s1" in got
  assert not any("_ram_g8_" in w for w in got)
  report = calls[-1][1]
  assert report[:2] == ["-m", "attn_rl.tools.report"]
  collected = report[2].removeprefix("--collect=").split(",")
  # What was trained here and the top-down run finished before; not what has no workdir.
  assert sorted(collected) == sorted([*got, f"{runs}/topdown_clutter100_topdown_g8_mlp_s1"])
  # Everything finished now: a rerun trains nothing and collects again.
  done, calls = run_script(tmp_path, "topdown_clutter100_table.sh", str(runs), results=results)
  assert done.returncode == 0 and not trained(calls) and len(calls) == 1
  assert done.stdout.count("finished already") == 21


def test_short_budget_names_its_runs_as_the_collected_ones(tmp_path):
  done, calls = run_script(tmp_path, "topdown_clutter100_table.sh", str(tmp_path / "r"), "short")
  assert done.returncode == 0, done.stderr
  names = {os.path.basename(w): a for w, (_, a) in trained(calls).items()}
  assert names["topdown_clutter100_full_g8_mlp_short_s1"][0].endswith("clutter10,short")
  assert names["topdown_clutter100_ram_g6_s0"][0].endswith(":ram,glimpses6,short")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin to")
def test_parallel_workers_pin_each_run_to_a_core_of_their_own(tmp_path):
  done, calls = run_script(tmp_path, "dreal_clutter_table.sh", str(tmp_path / "r"), "full",
                           parallel=2, arms="vanilla critics qw0.1")
  assert done.returncode == 0, done.stderr
  got = trained(calls)
  assert len(got) == 27
  assert {cores for cores, _ in got.values()} == {"0", "1"}
  assert got[f"{tmp_path}/r/dreal_clutter_cbam_vanilla_full_s2"][1] == [
      "--config=configs/dreal_clutter.py:cbam,vanilla", "--config.seed=2"]
  assert got[f"{tmp_path}/r/dreal_clutter_srm_qw0.1_full_s0"][1] == [
      "--config=configs/dreal_clutter.py:srm", "--config.seed=0", "--config.dreal.q_weight=0.1"]
  short = trained(run_script(tmp_path, "dreal_clutter_table.sh", str(tmp_path / "s"))[1])
  assert short[f"{tmp_path}/s/dreal_clutter_se_critics_short_s1"][1] == [
      "--config=configs/dreal_clutter.py:se,short", "--config.seed=1"]
  assert len(short) == 18


@pytest.mark.parametrize(("script", "args", "env", "error"), [
    ("topdown_clutter100_table.sh", ["long"], {}, "BUDGET must be 'full' or 'short'"),
    ("dreal_clutter_table.sh", ["long"], {}, "BUDGET must be 'short' or 'full'"),
    ("dreal_clutter_table.sh", [], {"arms": "vanilla paper"}, "ARMS: 'paper' is none of")])
def test_bad_arguments_stop_before_any_run(tmp_path, script, args, env, error):
  done, calls = run_script(tmp_path, script, str(tmp_path / "r"), *args, **env)
  assert done.returncode == 2 and error in done.stderr, done.stderr
  assert not calls


def test_dreal_table_analyses_only_pairs_trained_here_and_collects_only_those(tmp_path):
  results = tmp_path / "results"
  for arm in ("vanilla", "critics"):
    for seed in range(3):
      finish(results / f"dreal_clutter_se_{arm}_short_s{seed}")
  runs = tmp_path / "r"
  done, calls = run_script(tmp_path, "dreal_clutter_table.sh", str(runs), results=results)
  assert done.returncode == 0, done.stderr
  assert len(trained(calls)) == 12 and not any("_se_" in w for w in trained(calls))
  analysed = [a[2].removeprefix("--vanilla=") for _, a in calls
              if a[1] == "attn_rl.tools.analyze_dreal"]
  assert analysed == [f"{runs}/dreal_clutter_{a}_vanilla_short_s0" for a in ("cbam", "srm")]
  assert "no analysis of se" in done.stderr
  collected = calls[-1][1][2].removeprefix("--collect=").split(",")
  assert sorted(collected) == sorted(trained(calls))
