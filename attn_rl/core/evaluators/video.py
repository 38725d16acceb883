"""Videos: per-clip scores -> clip and video error, and mAP for label sets.

An eval step of a video method returns rows, one per clip of its batch:
  probs<suffix>  [B, C] float  the clip's class scores (several suffixes: '', '_m1', '_det')
  label          [B] int (one label) or [B, C] multi-hot (label sets)
  video          [B] int       the clip's video within the split
  mask           [B] float     0 on padding
  reads<s>, attended<s>  [B] float  slices read and slices attended per step (reported as
                                   their means over clips)
`accumulate` keeps the rows on the host; `summarize` scores each video from its clips:
  error<s>        video top-1 error, the video scored by the mean of its clips' scores (one
                  label: the top class is wrong; label sets: the top class is not in the set)
  error_mode<s>   video top-1 error by the most frequent top class of its clips (ties: the
                  smaller class), the other rule of video-level scoring
  error_clip<s>   the same error per clip
  map<s>, map_clip<s>   mean average precision over classes (video and clip level), reported
                  for label sets: per class the non-interpolated AP of the videos ranked by
                  its score, averaged over classes with at least one positive (ActivityNet's
                  and Hollywood2's mAP).
"""

from __future__ import annotations

import numpy as np

# Rows are kept as retrieval keeps them: each eval batch's outputs, fetched to the host.
from attn_rl.core.evaluators.retrieval import accumulate  # noqa: F401 (the evaluator's own)


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
  """Non-interpolated AP: the mean, over the positives, of the precision at each positive's
  rank (items ranked by decreasing score, ties in their given order); NaN without positives."""
  positive = np.asarray(positive, bool)
  if not positive.any():
    return float("nan")
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  hits = positive[order]
  precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
  return float(precision[hits].mean())


def mean_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
  """mAP over the classes (columns) with at least one positive: scores, labels [N, C]."""
  aps = [average_precision(scores[:, c], labels[:, c]) for c in range(labels.shape[1])]
  aps = [a for a in aps if not np.isnan(a)]
  return float(np.mean(aps)) if aps else float("nan")


def _multi_hot(label: np.ndarray, num_classes: int) -> np.ndarray:
  if label.ndim == 2:
    return label > 0.5
  out = np.zeros((len(label), num_classes), bool)
  out[np.arange(len(label)), label.astype(np.int64)] = True
  return out


def _top1_error(scores: np.ndarray, truth: np.ndarray) -> float:
  return 1.0 - float(truth[np.arange(len(scores)), scores.argmax(1)].mean())


def summarize(rows: list) -> dict:
  """Rows of every eval batch -> metrics (module docstring)."""
  cat = {k: np.concatenate([np.asarray(r[k]) for r in rows]) for k in rows[0]}
  keep = cat["mask"] > 0
  cat = {k: v[keep] for k, v in cat.items()}
  multilabel = cat["label"].ndim == 2
  num_classes = cat["probs"].shape[1]
  truth_clip = _multi_hot(cat["label"], num_classes)
  videos, inverse = np.unique(cat["video"], return_inverse=True)
  truth_video = np.zeros((len(videos), num_classes), bool)
  truth_video[inverse] = truth_clip
  out = {}
  for key in sorted(k for k in cat if k.startswith("probs")):
    s = key[len("probs"):]
    clip = cat[key].astype(np.float64)
    video = np.zeros((len(videos), num_classes))
    np.add.at(video, inverse, clip)
    video /= np.bincount(inverse)[:, None]
    votes = np.zeros((len(videos), num_classes))
    np.add.at(votes, (inverse, clip.argmax(1)), 1.0)
    out[f"error{s}"] = _top1_error(video, truth_video)
    out[f"error_mode{s}"] = _top1_error(votes, truth_video)
    out[f"error_clip{s}"] = _top1_error(clip, truth_clip)
    if multilabel:
      out[f"map{s}"] = mean_average_precision(video, truth_video)
      out[f"map_clip{s}"] = mean_average_precision(clip, truth_clip)
  for key in sorted(k for k in cat if k.startswith(("reads", "attended"))):
    out[key] = float(cat[key].mean())
  out["num_videos"] = float(len(videos))
  out["num_clips"] = float(len(inverse))
  return out
