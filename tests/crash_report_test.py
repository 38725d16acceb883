"""A test that crashes its xdist worker fails with the fault report in its summary line."""

import os
import re
import shutil
import subprocess
import sys

from tests.helpers import ROOT

# Three tests for a nested pytest: a fault in Python's own thread, an abort in a thread that
# native code started (no Python frames: the kind of crash XLA's threads give) after a message
# on fd 2, and a test that passes.
CRASHES = '''\
import ctypes
import os
import time


def test_crash():
  ctypes.string_at(0)


def test_native_abort():
  os.write(2, b"earlier output\\nF1207 native.cc:12] Check failed: the reason\\n")
  libc = ctypes.CDLL(None)
  libc.pthread_create.argtypes = [ctypes.c_void_p] * 4
  thread = ctypes.c_ulong()
  libc.pthread_create(ctypes.byref(thread), None, ctypes.cast(libc.abort, ctypes.c_void_p),
                      None)
  time.sleep(60)


def test_fine():
  assert True
'''


def test_a_crashed_worker_reports_its_fatal_error_where_and_its_stderr(tmp_path):
  tests = tmp_path / "tests"
  tests.mkdir()
  shutil.copy(os.path.join(ROOT, "tests", "conftest.py"), tests / "conftest.py")
  (tests / "crash_test.py").write_text(CRASHES)
  (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = *_test.py\n")
  env = {k: v for k, v in os.environ.items()
         if k not in ("ATTN_RL_TEST_CRASH_DIR", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
  env["CI"] = "true"  # As on CI, where pytest does not cut summary lines to the terminal's width.
  run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
                        "tests"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 1, run.stdout + run.stderr
  summary = {line.split(" - ")[0]: line for line in run.stdout.splitlines()
             if line.startswith("FAILED")}
  assert set(summary) == {"FAILED tests/crash_test.py::test_crash",
                          "FAILED tests/crash_test.py::test_native_abort"}, run.stdout
  fault = summary["FAILED tests/crash_test.py::test_crash"]
  assert "Fatal Python error: Segmentation fault" in fault
  assert 'crash_test.py", line 7 in test_crash' in fault
  native = summary["FAILED tests/crash_test.py::test_native_abort"]
  assert "Fatal Python error: Aborted, in a thread without Python frames" in native
  # The native thread may abort while the main thread is still in the ctypes call that started
  # it (line 15) or already asleep (line 17): CI has seen both.
  main_thread = r'the main thread at File "[^"]*crash_test\.py", line 1[57] in test_native_abort;'
  assert re.search(main_thread, native), native
  assert native.endswith("its stderr ends: F1207 native.cc:12] Check failed: the reason")
  # The failure's long report has the stderr's earlier lines too.
  assert "earlier output" in run.stdout
  assert "1 passed" in run.stdout
