"""Retrieval (re-identification): query x gallery ranking -> CMC (Rank-1/5/10) and mAP.

An eval step of a retrieval method returns, per example of its batch, the embedding and what
the ranking needs (not sums: a ranking needs every example at once):
  feature    [B, D] float  the embedding (L2-normalised here: ranking is by cosine distance)
  label      [B] int       identity; 0 is a distractor (gallery only, never a match)
  camid      [B] int       camera, from 0
  is_query   [B] bool      query or gallery
  mask       [B] float     0 on padding
`accumulate` keeps each batch's rows on the host; `summarize` ranks.

The protocol is the single-query Market-1501 one, as torchreid's `eval_market1501` computes it:
for each query, gallery items with the same identity *and* the same camera are removed from its
ranking; a query with no remaining true match is skipped; CMC at rank k is the fraction of
queries whose first true match is within the top k; AP is the non-interpolated average
precision over the query's remaining matches, mAP its mean over the valid queries. Distances
are computed on the device in chunks of queries (the gallery of Market-1501 is 15,913 items);
each chunk's ranking is sorted there (stably: ties keep gallery order) and scored on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Ranks of the CMC curve that are reported.
RANKS = (1, 5, 10)
# Queries ranked per device call.
CHUNK = 512


def accumulate(acc: list | None, out: dict) -> list:
  """Appends one eval batch's per-example outputs (fetched to the host)."""
  return (acc or []) + [jax.device_get(out)]


@jax.jit
def _rank_chunk(queries: jax.Array, gallery: jax.Array) -> jax.Array:
  """[q, D], [G, D] (unit rows) -> [q, G] gallery indices by increasing cosine distance."""
  distances = 1.0 - queries @ gallery.T
  return jnp.argsort(distances, axis=1, stable=True)


def _normalise(x: np.ndarray) -> np.ndarray:
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def scores_from_order(order: np.ndarray, q_pids, q_camids, g_pids, g_camids
                      ) -> tuple[np.ndarray, np.ndarray]:
  """Per query of a ranking order [q, G]: (rank of the first true match from 0 [q], AP [q]),
  after removing the gallery items of the query's identity and camera; a query left without a
  true match gets rank -1 and AP NaN (the caller skips it)."""
  g_pid, g_cam = g_pids[order], g_camids[order]
  match = g_pid == q_pids[:, None]
  keep = ~(match & (g_cam == q_camids[:, None]))
  hit = match & keep
  # 1-based rank of each kept item among the kept ones.
  rank = np.cumsum(keep, axis=1)
  hits_so_far = np.cumsum(hit, axis=1)
  num_rel = hit.sum(1)
  valid = num_rel > 0
  precision = np.where(hit, hits_so_far / np.maximum(rank, 1), 0.0)
  ap = np.where(valid, precision.sum(1) / np.maximum(num_rel, 1), np.nan)
  first = np.where(hit, rank - 1, np.iinfo(np.int64).max).min(1)
  return np.where(valid, first, -1), ap


def evaluate(features: np.ndarray, pids: np.ndarray, camids: np.ndarray, is_query: np.ndarray,
             ranks=RANKS, chunk: int = CHUNK) -> dict:
  """{'rank1', 'rank5', 'rank10', 'map', 'num_query', 'num_valid_query', 'num_gallery'} from
  the features [N, D] and identities, cameras and query flags [N] of every real example."""
  is_query = is_query.astype(bool)
  feats = _normalise(features.astype(np.float32))
  q, g = feats[is_query], feats[~is_query]
  q_pids, q_cams = pids[is_query], camids[is_query]
  g_pids, g_cams = pids[~is_query], camids[~is_query]
  if len(q) == 0 or len(g) == 0:
    raise ValueError(f"Retrieval needs queries and a gallery; got {len(q)} queries and "
                     f"{len(g)} gallery items.")
  gallery = jnp.asarray(g)
  firsts, aps = [], []
  for s in range(0, len(q), chunk):
    order = np.asarray(_rank_chunk(jnp.asarray(q[s:s + chunk]), gallery))
    first, ap = scores_from_order(order, q_pids[s:s + chunk], q_cams[s:s + chunk], g_pids,
                                  g_cams)
    firsts.append(first)
    aps.append(ap)
  first, ap = np.concatenate(firsts), np.concatenate(aps)
  valid = first >= 0
  if not valid.any():
    raise ValueError("No query has a true match in the gallery from another camera: the "
                     "split cannot be scored.")
  out = {f"rank{k}": float(np.mean(first[valid] < k)) for k in ranks}
  out["map"] = float(np.mean(ap[valid]))
  out.update(num_query=float(len(q)), num_valid_query=float(valid.sum()),
             num_gallery=float(len(g)))
  return out


def summarize(acc: list) -> dict:
  """The accumulated eval batches -> retrieval metrics (module docstring); padding dropped."""
  cat = {k: np.concatenate([np.asarray(b[k]) for b in acc]) for k in acc[0]}
  real = cat["mask"] > 0
  return evaluate(cat["feature"][real], cat["label"][real], cat["camid"][real],
                  cat["is_query"][real])
