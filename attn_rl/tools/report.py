"""Results report: per-run JSON, learning-curve plots and the README's results tables.

  python -m attn_rl.tools.report [--collect=runs/ram_clutter_s1,...] --results=results \
      --readme=README.md

`--collect` first copies finished workdirs' outputs (not their checkpoints) into
results/<name>/: results.json, config.json, metrics.jsonl and the test-image pictures.
Then it reads every `results/<config>_s<seed>/` run directory and writes:
  results/<run>/run.json     config, seed, git commit, hardware, wall time, validation curve
                             and the test errors of the validation-selected checkpoint
  results/<run>/curves.png   validation error (M=eval rollouts and M=1) and training loss
  results/summary.json       per config: seeds, mean and standard deviation of test error
  README.md                  each method's table between its markers: RAM's `results-table`,
                             the top-down ablation's `ablation-table`, DREAL's (vanilla
                             against critics) `dreal-table`, re-ID's retrieval `reid-table`,
                             DRAM's sequence errors `dram-table`
Each method's paper rows, run fields and table come from the module its `Method.report`
names (`attn_rl/methods/<name>/paper.py`). Nothing here chooses or edits a number: the tables
are functions of the run files.
"""

from __future__ import annotations

import functools
import glob
import importlib
import json
import os
import re
import shutil
import statistics

from absl import app, flags

from attn_rl.core import method as method_lib
from attn_rl.core import metric_writers

_RESULTS = flags.DEFINE_string("results", "results", "Folder of run directories.")
_README = flags.DEFINE_string("readme", "README.md", "README to update ('' = none); methods "
                              "whose report module names a docs `PAGE` update that page.")
_COLLECT = flags.DEFINE_list("collect", [], "Finished workdirs to copy into --results first.")
_PLOTS = flags.DEFINE_bool("plots", True, "Write curves.png per run (needs matplotlib).")



@functools.cache
def paper_modules() -> dict:
  """{method name: its report module} for every registered method that has one."""
  out = {}
  for name in method_lib.names():
    module = method_lib.get(name).report
    if module:
      out[name] = importlib.import_module(module)
  return out


def paper_rows() -> dict:
  """{result name: (task, paper error in %, source)} over all methods, in their order."""
  return {k: v for m in paper_modules().values() for k, v in getattr(m, "PAPER", {}).items()}


def _method_fields(values: dict) -> dict:
  """What tells a run apart within its method (its report module's `fields`)."""
  module = paper_modules().get(values.get("method", "ram"))
  return module.fields(values) if module else {}


_RUN = re.compile(r"^(?P<config>.+)_s(?P<seed>\d+)$")


def _read_json(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def collect_run(run_dir: str) -> dict | None:
  """One finished run -> its run.json record (None if not a finished run directory)."""
  name = os.path.basename(run_dir.rstrip("/"))
  match = _RUN.match(name)
  results = _read_json(os.path.join(run_dir, "results.json"))
  if not (match and results and results.get("finished")):
    return None
  metrics = metric_writers.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
  curve = [{"step": r["step"], **{k[4:]: v for k, v in r.items() if k.startswith("val/")}}
           for r in metrics if any(k.startswith("val/") for k in r)]
  train = [{"step": r["step"], "loss": r["train/loss/total"]}
           for r in metrics if "train/loss/total" in r]
  config = _read_json(os.path.join(run_dir, "config.json")) or {}
  test = results.get("test") or {k: results[k] for k in ("error", "error_m1", "nll")
                                  if k in results}
  # Classification runs select on validation error, retrieval runs on validation mAP.
  hardware = {k: results.get(k)
              for k in ("backend", "devices", "cpu_count", "cpu_model", "machine", "jax")}
  return {
      "run": name,
      "config": match["config"],
      "seed": int(match["seed"]),
      # Runs record their command line; older ones ran their config file's default variant.
      "command": results.get("command") or (
          f"python -m attn_rl.main --config=configs/{match['config']}.py "
          f"--config.seed={int(match['seed'])} --workdir=runs/{name}"),
      "git_commit": results.get("git_commit"),
      "git_dirty": results.get("git_dirty"),
      "started": results.get("date"),
      "finished_at": results.get("finished_at"),
      "hardware": hardware,
      # A run of several seeds in one process: every seed's wall time is the whole process's.
      "wall_seconds": results.get("train_seconds"),
      "num_seeds_in_process": results.get("num_seeds", 1),
      "steps": results.get("step"),
      "selected_step": results.get("selected_step"),
      "val_error_at_selected": results.get("val_error"),
      **({"val_map_at_selected": results["val_map"]} if "val_map" in results else {}),
      "eval_rollouts": results.get("eval_rollouts"),
      "test": test,
      "validation_curve": curve,
      "train_loss_curve": train,
      "notes": _notes(run_dir),
      "config_values": config,
  }


def _notes(run_dir: str) -> str | None:
  path = os.path.join(run_dir, "RUN.md")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return f.read().strip()


def plot_run(record: dict, path: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
  steps = [r["step"] for r in record["validation_curve"]]
  if record["validation_curve"] and "error" not in record["validation_curve"][0]:
    _plot_retrieval(record, steps, ax1, ax2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return
  m = record["eval_rollouts"]
  ax1.plot(steps, [100 * r["error"] for r in record["validation_curve"]],
           label=f"M={m}" if m else "validation")
  if record["validation_curve"] and "error_m1" in record["validation_curve"][0]:
    ax1.plot(steps, [100 * r["error_m1"] for r in record["validation_curve"]], label="M=1")
  ax1.axvline(record["selected_step"], color="gray", lw=0.8, ls=":", label="selected")
  paper_table = paper_rows()
  paper = (paper_table[record["config"]][1] if record["config"] in paper_table
           else _method_fields(record["config_values"]).get("paper_error"))
  if paper:
    ax1.axhline(paper, color="k", lw=0.8, ls="--", label="paper (test)")
  ax1.set(xlabel="step", ylabel="validation error (%)", yscale="log", title=record["run"])
  ax1.legend(fontsize=7)
  train = record["train_loss_curve"]
  ax2.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8)
  ax2.set(xlabel="step", ylabel="training loss (hybrid)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _plot_retrieval(record: dict, steps: list[int], ax1, ax2) -> None:
  """Validation mAP and Rank-1 of a retrieval run, and its training loss."""
  for key, label in (("map", "mAP"), ("rank1", "Rank-1")):
    ax1.plot(steps, [100 * r[key] for r in record["validation_curve"]], label=label)
  ax1.axvline(record["selected_step"], color="gray", lw=0.8, ls=":", label="selected")
  ax1.set(xlabel="step", ylabel="validation (%)", title=record["run"])
  ax1.legend(fontsize=7)
  train = record["train_loss_curve"]
  ax2.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8)
  ax2.set(xlabel="step", ylabel="training loss (total)")


def _stats(runs: list[dict], key: str) -> dict:
  """test_<key>_each / _mean / _std in % over the runs whose test has `key` (else {})."""
  values = [100 * r["test"][key] for r in runs if key in r["test"]]
  if not values:
    return {}
  return {f"test_{key}_each": values, f"test_{key}_mean": statistics.mean(values),
          f"test_{key}_std": statistics.stdev(values) if len(values) > 1 else None}


def summarize(records: list[dict]) -> list[dict]:
  """Per config: mean and sample standard deviation over seeds (in %)."""
  rows = []
  PAPER = paper_rows()
  # The paper's configs in its order, then the others by name (not in set order, which
  # changes with Python's hash seed).
  for config in sorted({r["config"] for r in records}, key=lambda c: (
      list(PAPER).index(c) if c in PAPER else len(PAPER), c)):
    runs = sorted((r for r in records if r["config"] == config), key=lambda r: r["seed"])
    errs = [100 * r["test"]["error"] for r in runs if "error" in r["test"]]
    walls = [r["wall_seconds"] for r in runs if r["wall_seconds"]]
    values = runs[0]["config_values"]
    ablation = _method_fields(values)
    rows.append({
        "config": config,
        "method": values.get("method", "ram"),
        **ablation,
        "task": PAPER.get(config, (config,))[0],
        "paper_error": PAPER[config][1] if config in PAPER else ablation.get("paper_error"),
        "seeds": [r["seed"] for r in runs],
        "runs": [r["run"] for r in runs],
        "test_error_mean": statistics.mean(errs) if errs else None,
        "test_error_std": statistics.stdev(errs) if len(errs) > 1 else None,
        "test_error_each": errs,
        # Retrieval runs (re-ID): Rank-1 and mAP instead of an error.
        **_stats(runs, "rank1"), **_stats(runs, "map"),
        # Digit sequences (DRAM): per-digit error and the deterministic policy's error.
        **_stats(runs, "error_digit"),
        "test_error_det_mean": _mean_of(runs, "error_det"),
        "test_error_m1_mean": _mean_of(runs, "error_m1"),
        "eval_rollouts": runs[0]["eval_rollouts"],
        "test_error_context_mean": _mean_of(runs, "error_context"),
        # Videos: per-clip scores, the mAP of each policy, slices read per frame.
        **_stats(runs, "error_clip"), **_stats(runs, "map_clip"),
        "test_map_det_mean": _mean_of(runs, "map_det"),
        "test_map_m1_mean": _mean_of(runs, "map_m1"),
        "test_reads_mean": (statistics.mean(r["test"]["reads"] for r in runs)
                            if all("reads" in r["test"] for r in runs) else None),
        "num_steps": values.get("train", {}).get("num_steps"),
        "commands": [r["command"] for r in runs],
        # Seeds trained per process (train.num_seeds), per run: >1 marks a multi-seed run.
        "seeds_per_process": [r.get("num_seeds_in_process", 1) for r in runs],
        "wall_minutes_median": statistics.median(walls) / 60 if walls else None,
        "hardware": sorted({_hardware_text(r["hardware"]) for r in runs}),
        "dates": sorted({(r["started"] or "")[:10] for r in runs} - {""}),
        "commits": sorted({(r["git_commit"] or "")[:7] for r in runs} - {""}),
    })
  return rows


def _hardware_text(hardware: dict) -> str:
  """'1 x cpu, <CPU model>' (runs recorded before cpu_model give the devices only)."""
  parts = [hardware.get("devices"), hardware.get("cpu_model")]
  return ", ".join(p for p in parts if p) or "see RUN.md"


def _mean_of(runs: list[dict], key: str) -> float | None:
  values = [100 * r["test"][key] for r in runs if key in r["test"]]
  return statistics.mean(values) if values else None


def update_readme(path: str, text: str, begin: str, end: str) -> None:
  with open(path) as f:
    readme = f.read()
  if begin not in readme or end not in readme:
    raise ValueError(f"{path} has no {begin} ... {end} markers to put the table between.")
  head, rest = readme.split(begin, 1)
  _, tail = rest.split(end, 1)
  with open(path, "w") as f:
    f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def collect_workdir(workdir: str, results_dir: str) -> list[str]:
  """Copies a finished workdir's outputs (no checkpoints) to results_dir/<name>.

  A run of several seeds (`train.num_seeds`) gives one folder per seed,
  results_dir/<workdir name>_s<seed>, each as a single-seed run's.
  """
  seed_dirs = sorted(glob.glob(os.path.join(workdir, "seed_*")))
  if seed_dirs:
    base = os.path.basename(workdir.rstrip("/"))
    return [_collect_one(d, results_dir,
                         f"{base}_s{_read_json(os.path.join(d, 'config.json'))['seed']}")
            for d in seed_dirs]
  return [_collect_one(workdir, results_dir, os.path.basename(workdir.rstrip("/")))]


def _collect_one(workdir: str, results_dir: str, name: str) -> str:
  if not os.path.exists(os.path.join(workdir, "results.json")):
    raise FileNotFoundError(f"{workdir} has no results.json: the run has not finished.")
  dst = os.path.join(results_dir, name)
  os.makedirs(os.path.join(dst, "pictures"), exist_ok=True)
  for name in ("results.json", "config.json", "metrics.jsonl"):
    shutil.copy(os.path.join(workdir, name), dst)
  pictures = os.path.join(workdir, "pictures")
  for name in sorted(os.listdir(pictures)) if os.path.isdir(pictures) else []:
    if name.startswith("test_"):
      shutil.copy(os.path.join(pictures, name), os.path.join(dst, "pictures"))
  return dst


def main(argv):
  del argv
  for workdir in _COLLECT.value:
    collect_workdir(workdir, _RESULTS.value)
  records = []
  for name in sorted(os.listdir(_RESULTS.value)):
    run_dir = os.path.join(_RESULTS.value, name)
    record = os.path.isdir(run_dir) and collect_run(run_dir)
    if not record:
      continue
    with open(os.path.join(run_dir, "run.json"), "w") as f:
      json.dump(record, f, indent=1)
    if _PLOTS.value:
      plot_run(record, os.path.join(run_dir, "curves.png"))
    records.append(record)
  rows = summarize(records)
  with open(os.path.join(_RESULTS.value, "summary.json"), "w") as f:
    json.dump(rows, f, indent=1)
  for name, module in paper_modules().items():
    if not any(r["method"] == name for r in rows):
      continue
    text = module.table(rows)
    print(text)
    if _README.value:
      update_readme(*table_target(_README.value, module, text), *module.MARKERS)


def table_target(readme: str, module, text: str) -> tuple[str, str]:
  """(file, table) a method's table goes to: the README, or the docs page its report module
  names as `PAGE` (relative to the README's folder), with run links made relative to it."""
  page = getattr(module, "PAGE", None)
  if page is None:
    return readme, text
  path = os.path.join(os.path.dirname(readme), page)
  up = os.path.relpath(os.path.dirname(readme) or ".", os.path.dirname(path))
  return path, text.replace("](results/", f"]({up}/results/")

if __name__ == "__main__":
  app.run(main)
