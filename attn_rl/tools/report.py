"""Results report: per-run JSON, learning-curve plots and the README's results table.

  python -m attn_rl.report [--collect=runs/ram_clutter_s1,...] --results=results --readme=README.md

`--collect` first copies finished workdirs' outputs (not their checkpoints) into
results/<name>/: results.json, config.json, metrics.jsonl and the test-image pictures.
Then it reads every `results/<config>_s<seed>/` run directory and writes:
  results/<run>/run.json     config, seed, git commit, hardware, wall time, validation curve
                             and the test errors of the validation-selected checkpoint
  results/<run>/curves.png   validation error (M=eval rollouts and M=1) and training loss
  results/summary.json       per config: seeds, mean and standard deviation of test error
  README.md                  RAM's table between the `results-table` markers, the
                             top-down ablation's between `ablation-table` and DREAL's
                             (vanilla against critics) between `dreal-table`
Nothing here chooses or edits a number: the table is a function of the run files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics

from absl import app, flags

from attn_rl import metric_writers

_RESULTS = flags.DEFINE_string("results", "results", "Folder of run directories.")
_README = flags.DEFINE_string("readme", "README.md", "README to update ('' = none).")
_COLLECT = flags.DEFINE_list("collect", [], "Finished workdirs to copy into --results first.")
_PLOTS = flags.DEFINE_bool("plots", True, "Write curves.png per run (needs matplotlib).")

BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
ABLATION_BEGIN, ABLATION_END = "<!-- ablation-table:begin -->", "<!-- ablation-table:end -->"
DREAL_BEGIN, DREAL_END = "<!-- dreal-table:begin -->", "<!-- dreal-table:end -->"

# config -> (task, the paper's test error in %, source). Mnih et al. 2014, Tables 1 and 2.
# A name `<config>_<variant>` is the variant of configs/<config>.py (see CONFIG_FILES).
_TRANSLATED = ("60x60 translated, 8 glimpses 12x12, 3 scales", 1.20, "Table 1b")
_CLUTTER = ("60x60 cluttered (4 pieces), 8 glimpses 12x12, 3 scales", 4.04, "Table 2a")
_CLUTTER100 = ("100x100 cluttered (8 pieces), 8 glimpses 12x12, 4 scales", 10.83,
               "Table 2b (arXiv)")


def _variant(row: tuple, change: str) -> tuple:
  """A paper row for a config variant: the task with what the variant changes."""
  task, error, source = row
  return f"{task}, {change}", error, source


PAPER = {
    "ram_mnist": ("28x28 MNIST, 6 glimpses 8x8, 1 scale", 1.12, "Table 1a"),
    "ram_mnist_glimpses7": ("28x28 MNIST, 7 glimpses 8x8, 1 scale", 1.07, "Table 1a"),
    "ram_translated": _TRANSLATED,
    "ram_translated_long": _variant(_TRANSLATED, "120,000 steps, tanh location mean"),
    "ram_clutter": _CLUTTER,
    "ram_clutter_long": _variant(_CLUTTER, "60,000 steps, tanh location mean"),
    "ram_clutter_long100k": _variant(_CLUTTER, "100,000 steps, tanh location mean"),
    "ram_clutter100": _CLUTTER100,
    "ram_clutter100_long": _variant(_CLUTTER100, "150,000 steps, tanh location mean"),
}

# Top-down ablation arm (top-down, entropy, context switched on) -> its name, in the paper's
# order.
ARMS = {
    (False, False, False): "RAM (conv glimpse network)",
    (True, False, False): "+ top-down",
    (True, True, False): "+ top-down + entropy",
    (True, True, True): "+ top-down + entropy + context (full)",
}
# (arm, glimpses) -> the paper's test error in %: Chen et al. 2021, 100x100 cluttered MNIST.
ABLATION_PAPER = {
    (ARMS[False, False, False], 6): 29.8, (ARMS[True, False, False], 6): 26.3,
    (ARMS[True, True, False], 6): 23.6, (ARMS[True, True, True], 6): 20.3,
    (ARMS[False, False, False], 8): 24.7, (ARMS[True, True, True], 8): 17.3,
}

# Result names that are a variant of a config file -> the --config argument that runs them.
CONFIG_FILES = {"ram_mnist_glimpses7": "ram_mnist.py:glimpses7",
                "ram_translated_long": "ram_translated.py:long",
                "ram_clutter_long": "ram_clutter.py:long",
                "ram_clutter_long100k": "ram_clutter.py:long100k",
                "ram_clutter100_long": "ram_clutter100.py:long"}

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
      "wall_seconds": results.get("train_seconds"),
      "steps": results.get("step"),
      "selected_step": results.get("selected_step"),
      "val_error_at_selected": results.get("val_error"),
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
  m = record["eval_rollouts"]
  ax1.plot(steps, [100 * r["error"] for r in record["validation_curve"]],
           label=f"M={m}" if m else "validation")
  if record["validation_curve"] and "error_m1" in record["validation_curve"][0]:
    ax1.plot(steps, [100 * r["error_m1"] for r in record["validation_curve"]], label="M=1")
  ax1.axvline(record["selected_step"], color="gray", lw=0.8, ls=":", label="selected")
  paper = (PAPER[record["config"]][1] if record["config"] in PAPER
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


def summarize(records: list[dict]) -> list[dict]:
  """Per config: mean and sample standard deviation over seeds (in %)."""
  rows = []
  # The paper's configs in its order, then the others by name (not in set order, which
  # changes with Python's hash seed).
  for config in sorted({r["config"] for r in records}, key=lambda c: (
      list(PAPER).index(c) if c in PAPER else len(PAPER), c)):
    runs = sorted((r for r in records if r["config"] == config), key=lambda r: r["seed"])
    errs = [100 * r["test"]["error"] for r in runs]
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
        "test_error_mean": statistics.mean(errs),
        "test_error_std": statistics.stdev(errs) if len(errs) > 1 else None,
        "test_error_each": errs,
        "test_error_m1_mean": _mean_of(runs, "error_m1"),
        "eval_rollouts": runs[0]["eval_rollouts"],
        "test_error_context_mean": _mean_of(runs, "error_context"),
        "num_steps": values.get("train", {}).get("num_steps"),
        "commands": [r["command"] for r in runs],
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


def _method_fields(values: dict) -> dict:
  """What tells a run apart within its method, read from its config (not from its name): a
  top-down run's arm and glimpse count, a DREAL run's attention module and critics."""
  if values.get("method") == "dreal":
    return {"attention": values["model"]["attention"], "critics": bool(values["dreal"]["critics"])}
  if values.get("method") != "topdown":
    return {}
  pieces = (values["topdown"]["enabled"], values["bottomup"]["entropy"],
            values["bottomup"]["context"])
  arm = ARMS.get(tuple(map(bool, pieces)), "other (top-down, entropy, context = {}, {}, {})"
                 .format(*pieces))
  glimpses = values["model"]["num_glimpses"]
  return {"arm": arm, "glimpses": glimpses, "paper_error": ABLATION_PAPER.get((arm, glimpses))}


def _error_text(r: dict) -> str:
  err = f"{r['test_error_mean']:.2f}%"
  if r["test_error_std"] is not None:
    err += f" ± {r['test_error_std']:.2f}"
  if len(r["test_error_each"]) > 1:
    err += " (" + ", ".join(f"{e:.2f}" for e in r["test_error_each"]) + ")"
  return err


def _wall_text(r: dict) -> str:
  return "" if r["wall_minutes_median"] is None else f"{r['wall_minutes_median']:.0f} min"


def _run_links(r: dict) -> str:
  return ", ".join(f"[{n}](results/{n}/run.json)" for n in r["runs"])


def _percent(x: float | None) -> str:
  return "" if x is None else f"{x:.2f}%"


def table(rows: list[dict]) -> str:
  lines = ["| task | config | seeds | test error | M=1 | paper | wall (median) | runs |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if r["method"] != "ram":
      continue
    err = _error_text(r)
    m1 = _percent(r["test_error_m1_mean"])
    paper = _percent(r["paper_error"])
    wall, runs = _wall_text(r), _run_links(r)
    config_file = CONFIG_FILES.get(r["config"], f"{r['config']}.py")
    lines.append(f"| {r['task']} | `configs/{config_file}` | {len(r['seeds'])} | "
                 f"{err} (M={r['eval_rollouts']}) | {m1} | {paper} | {wall} | {runs} |")
  return "\n".join(lines)


def ablation_table(rows: list[dict]) -> str:
  """The top-down ablation: one row per (glimpses, arm), plus our RAM on 100x100 for scale."""
  lines = ["| glimpses | arm | seeds | steps | test error | M=1 | context head Z | paper | "
           "wall (median) | runs |", "|---|---|---|---|---|---|---|---|---|---|"]
  order = list(ARMS.values())
  ablation = sorted((r for r in rows if r["method"] == "topdown" and "arm" in r),
                    key=lambda r: (r["glimpses"], order.index(r["arm"]) if r["arm"] in order
                                   else len(order)))
  for r in ablation + [r for r in rows if r["config"] == "ram_clutter100"]:
    arm, paper = r.get("arm"), r["paper_error"]
    if arm is None:
      # Chen et al. did not run this model: their "paper" column does not apply.
      arm, paper = (f"our RAM from the RAM table (`configs/{r['config']}.py`, MLP glimpse "
                    f"network; Mnih et al.: {r['paper_error']:.2f}%)"), None
    glimpses = r.get("glimpses", 8)
    wall, runs = _wall_text(r), _run_links(r)
    lines.append(f"| {glimpses} | {arm} | {len(r['seeds'])} | {r['num_steps'] or ''} | "
                 f"{_error_text(r)} (M={r['eval_rollouts']}) | {_percent(r['test_error_m1_mean'])}"
                 f" | {_percent(r.get('test_error_context_mean'))} | {_percent(paper)} "
                 f"| {wall} | {runs} |")
  return "\n".join(lines)


def dreal_table(rows: list[dict]) -> str:
  """DREAL runs: each attention module without and with critics, same budget."""
  lines = ["| attention | critics | seeds | steps | test error | wall (median) | runs |",
           "|---|---|---|---|---|---|---|"]
  dreal = sorted((r for r in rows if r["method"] == "dreal"),
                 key=lambda r: (r["attention"], r["num_steps"] or 0, r["critics"]))
  for r in dreal:
    wall, runs = _wall_text(r), _run_links(r)
    lines.append(f"| {r['attention'].upper()} | {'yes' if r['critics'] else 'no (vanilla)'} | "
                 f"{len(r['seeds'])} | {r['num_steps'] or ''} | {_error_text(r)} | {wall} | "
                 f"{runs} |")
  return "\n".join(lines)


def update_readme(path: str, text: str, begin: str = BEGIN, end: str = END) -> None:
  with open(path) as f:
    readme = f.read()
  if begin not in readme or end not in readme:
    raise ValueError(f"{path} has no {begin} ... {end} markers to put the table between.")
  head, rest = readme.split(begin, 1)
  _, tail = rest.split(end, 1)
  with open(path, "w") as f:
    f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def collect_workdir(workdir: str, results_dir: str) -> str:
  """Copies a finished workdir's outputs (no checkpoints) to results_dir/<name>."""
  if not os.path.exists(os.path.join(workdir, "results.json")):
    raise FileNotFoundError(f"{workdir} has no results.json: the run has not finished.")
  dst = os.path.join(results_dir, os.path.basename(workdir.rstrip("/")))
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
  text = table(rows)
  print(text)
  if _README.value:
    update_readme(_README.value, text)
  if any(r["method"] == "topdown" for r in rows):
    text = ablation_table(rows)
    print(text)
    if _README.value:
      update_readme(_README.value, text, ABLATION_BEGIN, ABLATION_END)
  if any(r["method"] == "dreal" for r in rows):
    text = dreal_table(rows)
    print(text)
    if _README.value:
      update_readme(_README.value, text, DREAL_BEGIN, DREAL_END)


if __name__ == "__main__":
  app.run(main)
