"""One run per workdir: an exclusive lock held for the life of `train_and_evaluate`.

The lock is `fcntl.flock` on `<workdir>/.lock`. The kernel releases it when the holding process
exits or is killed, so a lock left behind by a `kill -9` is never stale: the next run takes it
at once. The file names the holder (pid, host, start time) for the refusal message. Remote
workdirs (gs://...) cannot be locked this way; there the run warns and goes on unlocked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time

from absl import logging


class WorkdirBusyError(RuntimeError):
  """Another live process is training in this workdir."""


@contextlib.contextmanager
def exclusive(workdir: str, *, enabled: bool = True):
  """Holds the workdir's lock inside the block; raises WorkdirBusyError if another has it."""
  if not enabled:
    yield
    return
  if "://" in workdir:
    logging.warning("%s is remote: no lock against a second run in the same workdir.", workdir)
    yield
    return
  path = os.path.join(workdir, ".lock")
  with open(path, "a+") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "{}"
      try:
        info = json.loads(holder)
      except json.JSONDecodeError:
        info = {}
      raise WorkdirBusyError(
          f"{workdir} is in use by another run (process {info.get('pid', '?')} on "
          f"{info.get('host', '?')}, started {info.get('started', '?')}). Wait for it to finish, "
          "stop it (kill -TERM <pid> checkpoints and exits), or give this run another "
          "--workdir.") from None
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                        "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
