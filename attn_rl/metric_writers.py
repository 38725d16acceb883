"""Metric writers with clu's method names, without TensorFlow.

`MetricWriter` writes JSONL (always), the absl log, and TensorBoard events when tensorboardX
is installed. Only process 0 writes; other processes get a writer that does nothing.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import logging


class MetricWriter:
  def __init__(self, workdir: str, *, enabled: bool = True, tensorboard: bool = True):
    self._enabled = enabled
    self._tb = None
    self._jsonl = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115
    if tensorboard:
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
    self._jsonl.write(json.dumps({"step": int(step), "time": time.time(), **values}) + "\n")
    if self._tb is not None:
      for k, v in values.items():
        self._tb.add_scalar(k, v, int(step))

  def write_images(self, step: int, images: dict) -> None:
    """images: {name: uint8 [H, W, 3]}; TensorBoard only (PNGs are written by viz)."""
    if self._enabled and self._tb is not None:
      for k, v in images.items():
        self._tb.add_image(k, np.asarray(v), int(step), dataformats="HWC")

  def write_hparams(self, hparams: dict) -> None:
    if self._enabled and self._tb is not None:
      flat = {k: v for k, v in hparams.items() if isinstance(v, int | float | str | bool)}
      self._tb.add_text("hparams", json.dumps(flat, indent=1))

  def flush(self) -> None:
    if self._enabled:
      self._jsonl.flush()
      if self._tb is not None:
        self._tb.flush()

  def close(self) -> None:
    if self._enabled:
      self.flush()
      self._jsonl.close()
      if self._tb is not None:
        self._tb.close()


def read_jsonl(path: str) -> list[dict]:
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
