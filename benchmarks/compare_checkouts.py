"""RAM step throughput of two checkouts, alternated in one session: did a change slow it down?

  git worktree add /tmp/before <commit>
  python benchmarks/compare_checkouts.py --before=/tmp/before --rounds=3 \
      --out=benchmarks/refactor_throughput_cpu.json

Runs the benchmark of each checkout (`python -m attn_rl.tools.bench` here, or the module the
other checkout has: `attn_rl.bench` before the one-folder-per-method redesign) in its own
process, before, after, before, after, ... so that slow and fast spells of a shared machine hit
both alike; each process times --repeats runs of --steps training steps per task after warm-up.
Writes per round and task the images/s of both, and the median over rounds of the after/before
ratio. Both run with the same interpreter and environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench_module(checkout: str) -> str:
  if os.path.exists(os.path.join(checkout, "attn_rl", "tools", "bench.py")):
    return "attn_rl.tools.bench"
  return "attn_rl.bench"


def run(checkout: str, args, out: str) -> dict:
  cmd = [sys.executable, "-m", bench_module(checkout), f"--tasks={args.tasks}",
         f"--batch_sizes={args.batch_sizes}", f"--repeats={args.repeats}",
         f"--steps={args.steps}", f"--out={out}"]
  env = {**os.environ, "PYTHONPATH": checkout, "XLA_FLAGS": ""}
  subprocess.run(cmd, cwd=checkout, env=env, check=True, capture_output=True, text=True)
  with open(out) as f:
    return json.load(f)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--before", required=True, help="The other checkout (a git worktree).")
  parser.add_argument("--after", default=ROOT, help="This checkout by default.")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--tasks", default="mnist28_6x8x1,clutter60_8x12x3,clutter100_8x12x4")
  parser.add_argument("--batch_sizes", default="128")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  rounds = []
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(args.rounds):
      entry = {}
      for side in ("before", "after"):
        start = time.time()
        result = run(getattr(args, side), args, os.path.join(tmp, f"{side}{r}.json"))
        entry[side] = {f"{row['task']}@{row['batch_size']}": row["train_images_per_sec"]
                       for row in result["rows"]}
        entry[f"{side}_commit"] = result.get("git_commit")
        print(f"round {r} {side}: {entry[side]} ({time.time() - start:.0f} s)", flush=True)
      rounds.append(entry)
      provenance = {k: result.get(k) for k in ("date", "jax", "backend", "devices", "cpu_count",
                                               "cpu_model", "machine")}
  keys = sorted(rounds[0]["after"])
  ratios = {k: statistics.median(e["after"][k] / e["before"][k] for e in rounds) for k in keys}
  summary = {
      "command": " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
      "before_commit": rounds[0]["before_commit"], "after_commit": rounds[0]["after_commit"],
      **provenance,
      "steps_per_run": args.steps, "repeats_per_process": args.repeats,
      "median_ratio_after_over_before": ratios,
      "median_images_per_sec": {
          side: {k: statistics.median(e[side][k] for e in rounds) for k in keys}
          for side in ("before", "after")},
      "rounds": rounds,
  }
  with open(args.out, "w") as f:
    json.dump(summary, f, indent=1)
  print(json.dumps(ratios, indent=1))


if __name__ == "__main__":
  main()
