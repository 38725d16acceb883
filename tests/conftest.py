"""Test session setup, before JAX starts: eight fake CPU devices, so sharded-vs-single-device
tests run anywhere, and a persistent compilation cache for the session, so the many runs of
identical programs (a run and its resumed twin, the CLI's subprocesses) compile once.

The cache directory is made by the first process (pytest, or its xdist controller) and
inherited by the xdist workers and every subprocess; that process removes it at exit.
"""

import atexit
import os
import shutil
import tempfile

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
