"""Metric writers with clu's method names, without TensorFlow.

`MetricWriter` writes JSONL (always), the absl log, and TensorBoard events when tensorboardX
is installed. Only process 0 writes; other processes get a writer that does nothing.
Workdirs may be remote (gs://...): object stores cannot append, so there the JSONL file is
rewritten whole at every flush (it stays small: one line per log step).
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import logging
from etils import epath


class MetricWriter:
  def __init__(self, workdir: str, *, enabled: bool = True, tensorboard: bool = True,
               append: bool | None = None):
    """append: write lines to an open file (None: yes unless workdir is a remote URI)."""
    self._enabled = enabled
    self._tb = None
    self._jsonl = None
    if not enabled:
      return
    root = epath.Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    self._path = root / "metrics.jsonl"
    self._remote = ("://" in workdir) if append is None else not append
    if self._remote:
      self._lines = [self._path.read_text()] if self._path.exists() else []
    else:
      self._jsonl = self._path.open("a")
    if tensorboard and self._remote:
      logging.warning("TensorBoard events are written for local workdirs only; %s gets "
                      "every scalar in metrics.jsonl.", workdir)
    elif tensorboard:
      try:
        import tensorboardX
      except ImportError:
        logging.info("tensorboardX is not installed: no TensorBoard events (pip install '.[tb]').")
      else:
        self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tb"))

  def write_scalars(self, step: int, scalars: dict) -> None:
    if not self._enabled:
      return
    values = {k: float(np.asarray(v)) for k, v in scalars.items()}
    line = json.dumps({"step": int(step), "time": time.time(), **values}) + "\n"
    if self._remote:
      self._lines.append(line)
    else:
      self._jsonl.write(line)
    if self._tb is not None:
      for k, v in values.items():
        self._tb.add_scalar(k, v, int(step))

  def write_hparams(self, hparams: dict) -> None:
    if self._enabled and self._tb is not None:
      flat = {k: v for k, v in hparams.items() if isinstance(v, int | float | str | bool)}
      self._tb.add_text("hparams", json.dumps(flat, indent=1))

  def flush(self) -> None:
    if self._enabled:
      if self._remote:
        self._path.write_text("".join(self._lines))
      else:
        self._jsonl.flush()
        # On disk, not in the page cache only: a checkpoint saved after this flush never
        # outlives the metrics it follows, even across a power cut.
        os.fsync(self._jsonl.fileno())
      if self._tb is not None:
        self._tb.flush()

  def close(self) -> None:
    if self._enabled:
      self.flush()
      if not self._remote:
        self._jsonl.close()
      if self._tb is not None:
        self._tb.close()


def read_jsonl(path) -> list[dict]:
  text = epath.Path(path).read_text()
  return [json.loads(line) for line in text.splitlines() if line.strip()]
