"""Test session setup, before JAX starts: eight fake CPU devices, so sharded-vs-single-device
tests run anywhere, and a persistent compilation cache for the session, so the many runs of
identical programs (a run and its resumed twin, the CLI's subprocesses) compile once.

The cache directory is made by the first process (pytest, or its xdist controller) and
inherited by the xdist workers and every subprocess; that process removes it at exit.

A worker that crashes (a fatal signal in native code) writes Python's fault report to a file
of its own, and the worker's test failure carries that report, fatal error first: on its
stderr the report's first lines were cut from a CI log by the dump of every thread after them.
"""

import atexit
import faulthandler
import os
import shutil
import tempfile

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


def _crash_file(worker_id: str) -> str:
  return os.path.join(os.environ["ATTN_RL_TEST_CRASH_DIR"], f"{worker_id}.txt")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
  """In an xdist worker, after pytest's faulthandler plugin: the fault report to a file."""
  worker = os.environ.get("PYTEST_XDIST_WORKER")
  if worker and faulthandler.is_enabled():
    report = open(_crash_file(worker), "w")  # noqa: SIM115 (open until the session ends)
    config.add_cleanup(report.close)
    faulthandler.enable(file=report, all_threads=False)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem, report, sched):
  """The crashed worker's fault report in its test's failure (xdist's hook): the fatal error
  and the innermost frame on the first line (the short summary's), the whole report after."""
  del crashitem, sched
  path = _crash_file(report.node.gateway.id)
  lines = open(path).read().strip().splitlines() if os.path.exists(path) else []
  if not lines:
    report.longrepr = f"{report.longrepr}: no fault report (killed by a signal it cannot catch?)"
    return
  frames = [line.strip() for line in lines if line.lstrip().startswith("File ")]
  ours = [f for f in frames if "/attn_rl/" in f or "/tests/" in f]
  where = (f", innermost {frames[0]}" if frames else "") + (
      f", innermost of ours {ours[0]}" if ours and ours[0] != frames[0] else "")
  report.longrepr = "\n".join([f"{report.longrepr}: {lines[0]}{where}"] + lines)
