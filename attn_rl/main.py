"""Command line: `python -m attn_rl.main --config=configs/ram_clutter.py [--workdir=...]`."""

from __future__ import annotations

import logging as std_logging
import os
import time

from absl import app, flags, logging
from ml_collections import config_flags

from attn_rl.core import loop, parallel

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (path[:variant]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory; default runs/<config name>[_<variant>]. Rerun to resume."
)
_MAX_STEPS = flags.DEFINE_integer(
    "max_steps_this_run", None, "Checkpoint and stop after this many steps (resumable)."
)
flags.mark_flags_as_required(["config"])


def default_workdir(config_arg: str) -> str:
  path, _, variant = config_arg.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("runs", name + (f"_{variant}" if variant else ""))


class _QuietLibraries(std_logging.Filter):
  """Drops INFO records of orbax and jax internals: they would drown the training log."""

  def filter(self, record):
    noisy = ("/orbax/", "/jax/_src/", "/tensorflow_datasets/")
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  parallel.maybe_initialize_distributed()
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)
  logging.info("workdir %s, started %s", workdir, time.strftime("%Y-%m-%d %H:%M:%S"))
  results = loop.train_and_evaluate(_CONFIG.value, workdir, max_steps_this_run=_MAX_STEPS.value)
  logging.info("results: %s", results)


if __name__ == "__main__":
  app.run(main)
