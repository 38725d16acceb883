"""Where and with what a result was produced: command, commit, date, library and hardware."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time

import jax


def _git(*args: str) -> str | None:
  try:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def command_line(argv: list[str] | None = None) -> str:
  """The command that started this process, as typed: `python -m attn_rl.main ...`."""
  argv = sys.argv if argv is None else argv
  program = argv[0]
  parts = program[:-3].split(os.sep) if program.endswith(".py") else []
  if "attn_rl" in parts:  # A module of the package, run with -m (attn_rl.main, attn_rl.tools.x).
    start = len(parts) - 1 - parts[::-1].index("attn_rl")
    program = "python -m " + ".".join(parts[start:])
  return " ".join([program, *map(shlex.quote, argv[1:])])


def provenance() -> dict:
  """Where and with what a result was produced (goes into results.json).

  Call it when the run starts: the code that ran is HEAD at that moment, plus local edits
  when `git_dirty` is true.
  """
  status = _git("status", "--porcelain", "--untracked-files=no")
  return {
      "command": command_line(),
      "git_commit": _git("rev-parse", "HEAD"),
      "git_dirty": None if status is None else bool(status),
      "date": time.strftime("%Y-%m-%d %H:%M:%S"),
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
      "cpu_count": os.cpu_count(),
      "cpu_model": cpu_model(),
      "machine": platform.platform(),
  }


def cpu_model() -> str:
  """The host CPU's model name (Linux /proc/cpuinfo), else platform.processor().

  Recorded because CPU throughput and run times differ between machines of one kind (the
  project's 2-core machines have been AMD EPYC and Intel Xeon with AVX-512).
  """
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"
