"""Command line: `python -m attn_rl.main --config=configs/ram_clutter.py [--workdir=...]`.

`--config` also takes a workdir's `config.json` (the config it was trained with). Exit status:
0 when the run finished or stopped after `--max_steps_this_run`, 75 (`loop.EXIT_STOPPED`) when
SIGINT or SIGTERM stopped it (rerun the same command to resume), 1 on an error, 2 on a bad
flag or config key.
"""

from __future__ import annotations

import logging as std_logging
import os
import re
import sys
import time

from absl import app, flags, logging
from ml_collections import config_flags

from attn_rl.core import checkpointing, loop, parallel, workdir
from attn_rl.data import splits

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (path[:variant]) or a workdir's config.json.", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output directory; default runs/<config name>[_<variant>] (for a "
    "config.json, its folder). Rerun to resume.")
_MAX_STEPS = flags.DEFINE_integer(
    "max_steps_this_run", None, "Checkpoint and stop after this many steps (resumable).")
flags.mark_flags_as_required(["config"])
_JSON_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core", "json_config.py")
# Errors whose message says what to do: printed alone, without a traceback.
_USER_ERRORS = (FloatingPointError, checkpointing.ConfigMismatchError,
                checkpointing.CheckpointDamagedError, workdir.WorkdirBusyError,
                splits.DatasetNotFoundError, splits.DatasetCorruptError)


def default_workdir(config_arg: str) -> str:
  path, _, variant = config_arg.partition(":")
  if path.endswith(".json"):
    return os.path.dirname(path) or "."
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("runs", name + (f"_{variant}" if variant else ""))


def _json_configs(argv: list[str]) -> list[str]:
  """`--config=x.json` -> `--config=<attn_rl/core/json_config.py>:x.json`."""
  out = []
  for a in argv:
    if a.startswith("--config=") and a.endswith(".json"):
      a = f"--config={_JSON_CONFIG}:{a[len('--config='):]}"
    out.append(a)
  return out


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with a one-line message for a `--config.<key>` that does not exist."""
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    raw = str(e).replace("\\n", " ").replace("\\'", "'")
    key = re.search(r"'(\w+)'", raw)
    key = key.group(1) if key else raw
    hint = re.search(r"Did you mean[^?]*\?", raw)
    given = [a.split("=")[0] for a in argv if a.startswith("--config.") and key in a]
    sys.stderr.write(f"{given[0] if given else '--config'}: the config has no key {key!r}"
                     + (f". {hint.group(0)}" if hint else "")
                     + " (every key: docs/configs.md, or the config file).\n")
    sys.exit(2)


def _drop_closed_loop_callbacks(unraisable) -> None:
  """After a checkpoint read fails, TensorStore completes its other pending reads into Orbax's
  already closed event loop, and Python prints each as an ignored 'Event loop is closed'
  error at exit, after our message. They are no news (the failure was caught and named), so
  exactly these are dropped; anything else goes to Python's default hook."""
  exc = unraisable.exc_value
  if isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed":
    return
  sys.__unraisablehook__(unraisable)


class _QuietLibraries(std_logging.Filter):
  """Drops INFO records of orbax and jax internals: they would drown the training log."""

  def filter(self, record):
    noisy = ("/orbax/", "/jax/_src/", "/tensorflow_datasets/")
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  sys.unraisablehook = _drop_closed_loop_callbacks
  parallel.maybe_initialize_distributed()
  config_arg = flags.FLAGS["config"].config_filename
  if config_arg.startswith(_JSON_CONFIG + ":"):
    config_arg = config_arg[len(_JSON_CONFIG) + 1:]
  run_dir = _WORKDIR.value or default_workdir(config_arg)
  logging.info("workdir %s, started %s", run_dir, time.strftime("%Y-%m-%d %H:%M:%S"))
  try:
    results = loop.train_and_evaluate(_CONFIG.value, run_dir,
                                      max_steps_this_run=_MAX_STEPS.value)
  except loop.StoppedError as e:
    logging.error("%s The last saved checkpoint is intact: rerun the same command to resume.",
                  e)
    sys.exit(loop.EXIT_STOPPED)
  except _USER_ERRORS as e:
    logging.error("%s", e)
    sys.exit(1)
  logging.info("results: %s", results)
  if results.get("stopped"):
    sys.exit(loop.EXIT_STOPPED)


if __name__ == "__main__":
  app.run(main, argv=_json_configs(sys.argv), flags_parser=_parse_flags)
