"""Test session setup, before JAX starts: eight fake CPU devices, so sharded-vs-single-device
tests run anywhere, and a persistent compilation cache for the session, so the many runs of
identical programs (a run and its resumed twin, the CLI's subprocesses) compile once.

The cache directory is made by the first process (pytest, or its xdist controller) and
inherited by the xdist workers and every subprocess; that process removes it at exit.

A worker that crashes (a fatal signal in native code) leaves two files of its own: Python's
fault report (every thread's stack) and the crashing test's captured stderr, where native code
prints why it aborts. The worker's test failure carries both, the fatal error, where it
happened and stderr's last line first (a worker's own stderr had its first lines cut from a CI
log, and pytest's capture file of a dead worker is gone).
"""

import atexit
import faulthandler
import os
import re
import shutil
import tempfile

import _pytest.capture
import pytest

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "ATTN_RL_TEST_XLA_CACHE" not in os.environ:
  # Fresh per session (nothing carries over between sessions); numbers do not depend on it.
  _cache = tempfile.mkdtemp(prefix="attn_rl_test_xla_cache_")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ["ATTN_RL_TEST_XLA_CACHE"] = _cache
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"

if "ATTN_RL_TEST_CRASH_DIR" not in os.environ:
  _crashes = tempfile.mkdtemp(prefix="attn_rl_test_crashes_")
  atexit.register(shutil.rmtree, _crashes, ignore_errors=True)
  os.environ["ATTN_RL_TEST_CRASH_DIR"] = _crashes


def _crash_file(worker_id: str, kind: str) -> str:
  """Where worker `worker_id` keeps its `fault` report or its captured `stderr`."""
  return os.path.join(os.environ["ATTN_RL_TEST_CRASH_DIR"], f"{worker_id}.{kind}.txt")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
  """In an xdist worker, after pytest's faulthandler and capture plugins: the fault report
  (every Python thread) to a file, and the captured stderr to a named file."""
  worker = os.environ.get("PYTEST_XDIST_WORKER")
  if not worker:
    return
  if faulthandler.is_enabled():
    report = open(_crash_file(worker, "fault"), "w")  # noqa: SIM115 (open until the end)
    config.add_cleanup(report.close)
    faulthandler.enable(file=report, all_threads=True)
  _keep_captured_stderr(config, _crash_file(worker, "stderr"))


def _keep_captured_stderr(config, path: str) -> None:
  """pytest captures fd 2 into an unnamed temporary file, which dies with a crashed worker,
  and with it what native code printed before it aborted (an XLA check's message, say). Point
  that file's descriptor at a named file: capture works as before (pytest reads and empties it
  after every test), and the crashing test's stderr outlives the worker."""
  capturing = getattr(config.pluginmanager.getplugin("capturemanager"), "_global_capturing",
                      None)
  err = getattr(capturing, "err", None)
  if not isinstance(err, _pytest.capture.FDCaptureBase) or err.targetfd != 2:
    return  # stderr is not captured at the fd level (-s, --capture=sys): nothing is lost.
  tmp = err.tmpfile.fileno()
  redirected = os.path.samestat(os.fstat(2), os.fstat(tmp))
  named = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
  os.dup2(named, tmp)
  os.close(named)
  if redirected:
    os.dup2(tmp, 2)


_THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+ .*:$")


def _fault_summary(lines: list[str]) -> str:
  """The fatal error, then where: the crashing thread's innermost frame (and innermost of
  ours), or, when the thread has no Python frames (native code), where the main thread was."""
  threads = []  # (header, frames) in the report's order: the main thread last.
  for line in lines[1:]:
    if _THREAD.match(line):
      threads.append((line, []))
    elif threads and line.lstrip().startswith("File "):
      threads[-1][1].append(line.strip())
  ours = lambda frames: [f for f in frames if "/attn_rl/" in f or "/tests/" in f]
  crashed = [frames for header, frames in threads if header.startswith("Current thread")]
  if crashed and crashed[0]:
    frames, mine = crashed[0], ours(crashed[0])
    where = f", innermost {frames[0]}"
    if mine and mine[0] != frames[0]:
      where += f", innermost of ours {mine[0]}"
  else:
    where = ", in a thread without Python frames (native code)"
    main = threads[-1][1] if threads else []
    if main:
      where += f"; the main thread at {(ours(main) or main)[0]}"
  return lines[0] + where


def _tail(path: str, num_lines: int) -> list[str]:
  if not os.path.exists(path):
    return []
  with open(path, errors="replace") as f:
    return f.read().strip().splitlines()[-num_lines:]


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
  """The crashed worker's fault report and the crashing test's stderr in its failure (xdist's
  hook): the fatal error, where, and stderr's last line on the first line (the short
  summary's); the whole report and stderr's last lines after."""
  del crashitem, sched
  worker = report.node.gateway.id
  lines = _tail(_crash_file(worker, "fault"), 10_000)
  stderr = _tail(_crash_file(worker, "stderr"), 40)
  first = (f"{report.longrepr}: {_fault_summary(lines)}" if lines else
           f"{report.longrepr}: no fault report (killed by a signal it cannot catch?)")
  if stderr:
    first += f"; its stderr ends: {stderr[-1].strip()}"
  rest = lines + (["", "The test's stderr (its last 40 lines):"] + stderr if stderr else [])
  report.longrepr = "\n".join([first] + rest)
