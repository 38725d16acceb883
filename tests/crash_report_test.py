"""A test that crashes its xdist worker fails with the fault report in its summary line."""

import os
import shutil
import subprocess
import sys

from tests.helpers import ROOT


def test_a_crashed_worker_reports_its_fatal_error_and_where(tmp_path):
  tests = tmp_path / "tests"
  tests.mkdir()
  shutil.copy(os.path.join(ROOT, "tests", "conftest.py"), tests / "conftest.py")
  (tests / "crash_test.py").write_text(
      "import ctypes\n\ndef test_crash():\n  ctypes.string_at(0)\n\n"
      "def test_fine():\n  assert True\n")
  (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = *_test.py\n")
  env = {k: v for k, v in os.environ.items()
         if k not in ("ATTN_RL_TEST_CRASH_DIR", "PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
  env["CI"] = "true"  # As on CI, where pytest does not cut summary lines to the terminal's width.
  run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
                        "tests"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 1, run.stdout + run.stderr
  summary = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
  assert len(summary) == 1, run.stdout
  assert "test_crash - worker" in summary[0]
  assert "Fatal Python error: Segmentation fault" in summary[0]
  assert 'crash_test.py", line 4 in test_crash' in summary[0]
  assert "1 passed" in run.stdout
