"""Golden metrics of every config's `:quicktest`: record them, or check a refactor against them.

  python benchmarks/golden_quicktest.py --write benchmarks/golden_quicktest.json   # record
  python benchmarks/golden_quicktest.py --check benchmarks/golden_quicktest.json   # compare
  python benchmarks/golden_quicktest.py --check ... --ignore=val/,test/   # training only
  python benchmarks/golden_quicktest.py --write /tmp/a.json --only=dreal_cifar10.py:quicktest \
      --only=dreal_clutter.py:se,quicktest   # a subset (an A/B of two checkouts)

Each entry runs the unchanged command line (`python -m attn_rl.main`) at seed 0 on synthetic
data, stretched to 20 training steps with a log record every step, and keeps every record of
its metrics.jsonl (the per-step training metrics, every validation and the final test) without
wall-clock fields. `--check` reruns them and demands bit-identical values (floats compared by
their JSON text), so a change of layout that changes a single rounding fails. The values are
machine-dependent (XLA's CPU kernels differ between CPU models): record and check on the same
machine, with the same thread count (no taskset in one and not the other).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every config file's quicktest, plus the variants that switch code paths (arms, modules).
CONFIGS = (
    "ram_mnist.py:quicktest",
    "ram_translated.py:quicktest",
    "ram_clutter.py:quicktest",
    "ram_clutter100.py:quicktest",
    "topdown_mnist.py:quicktest",
    "topdown_clutter100.py:quicktest",
    "topdown_clutter100.py:ram,quicktest",
    "topdown_clutter100.py:topdown,entropy,quicktest",
    "dreal_clutter.py:se,quicktest",
    "dreal_clutter.py:cbam,quicktest",
    "dreal_clutter.py:srm,vanilla,quicktest",
    "dreal_clutter.py:cbam,onemap,batchmean,quicktest",
    "dreal_cifar10.py:quicktest",
    "dreal_imagenet.py:quicktest",
)
OVERRIDES = ("--config.data.source=synthetic", "--config.seed=0",
             "--config.train.num_steps=20", "--config.log.every_steps=1")
DROP = ("time", "train/images_per_sec")


def run_one(config: str, workdir: str) -> list[dict]:
  cmd = [sys.executable, "-m", "attn_rl.main", f"--config=configs/{config}", *OVERRIDES,
         f"--workdir={workdir}"]
  env = {**os.environ, "XLA_FLAGS": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
  done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
  if done.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f if line.strip()]
  return [{k: v for k, v in r.items() if k not in DROP} for r in records]


def run_all(configs=CONFIGS) -> dict:
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    for i, config in enumerate(configs):
      start = time.time()
      out[config] = run_one(config, os.path.join(tmp, str(i)))
      print(f"{config}: {len(out[config])} records, {time.time() - start:.0f} s", flush=True)
  return out


def differences(golden: dict, now: dict, ignore: tuple[str, ...] = ()) -> list[str]:
  """Every value that differs, except keys starting with a prefix in `ignore`."""
  diffs = []
  for config, b in now.items():
    a = golden["runs"].get(config)
    if a is None:
      diffs.append(f"{config}: not in the golden file")
      continue
    if len(a) != len(b):
      diffs.append(f"{config}: {len(a)} records in the golden file, {len(b)} now")
    for ra, rb in zip(a, b, strict=False):
      for key in sorted(set(ra) | set(rb)):
        if key.startswith(ignore):
          continue
        if json.dumps(ra.get(key)) != json.dumps(rb.get(key)):
          diffs.append(f"{config} step {ra.get('step')} {key}: golden {ra.get(key)!r}, "
                       f"now {rb.get(key)!r}")
  return diffs


def write(path: str, now: dict) -> None:
  git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
  status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                          capture_output=True, text=True)
  with open(path, "w") as f:
    json.dump({"commit": git.stdout.strip(), "git_dirty": bool(status.stdout.strip()),
               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.platform(),
               "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "overrides": OVERRIDES,
               "runs": now}, f, indent=1)
  print(f"wrote {path}")


def _cpu_model() -> str:
  with open("/proc/cpuinfo") as f:
    return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                platform.processor())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  group = parser.add_mutually_exclusive_group(required=True)
  group.add_argument("--write", help="Record the golden file here.")
  group.add_argument("--check", help="Compare against this golden file.")
  parser.add_argument("--rewrite", action="store_true", help="With --check: afterwards, "
                      "record this run as the new golden file (for a deliberate change).")
  parser.add_argument("--ignore", default="", help="With --check: comma-separated key "
                      "prefixes not compared (e.g. val/,test/ for a change meant to alter "
                      "evaluation only).")
  parser.add_argument("--only", action="append", default=[], help="An entry of CONFIGS to "
                      "run, repeatable (e.g. an A/B of two checkouts on the configs a change "
                      "touches); with --check, only these are compared.")
  args = parser.parse_args()
  only = tuple(args.only)
  unknown = sorted(set(only) - set(CONFIGS))
  if unknown:
    parser.error(f"--only names {unknown}, not entries of CONFIGS.")
  if only and args.rewrite:
    parser.error("--rewrite records every config: leave out --only.")
  now = run_all(only or CONFIGS)
  if args.write:
    write(args.write, now)
    return
  with open(args.check) as f:
    golden = json.load(f)
  ignore = tuple(p for p in args.ignore.split(",") if p)
  diffs = differences(golden, now, ignore)
  for d in diffs[:50]:
    print(d)
  if args.rewrite:
    write(args.check, now)
  total = sum(len(v) for v in now.values())
  print(f"{len(now)} configs, {total} records: "
        + ("bit-identical to the golden file" if not diffs else f"{len(diffs)} differences")
        + (f" (keys starting with {', '.join(ignore)} not compared)" if ignore else ""))
  sys.exit(1 if diffs else 0)


if __name__ == "__main__":
  main()
