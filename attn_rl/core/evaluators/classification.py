"""Classification: masked sums of correct predictions and log-loss -> error rates.

An eval step returns sums over the real examples of its batch (`mask` is 0 on padding), so
sums over all batches give exact rates whatever the padding:
  count              the number of real examples
  correct<suffix>    correct predictions; reported as error<suffix> = 1 - correct / count,
                     or 1 - correct / count<suffix> where the eval step gives that count
                     (several predictions per example: the digits of a sequence)
  anything else      summed per example; reported as its mean (e.g. `nll`)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def probability_sums(probs: jax.Array, label: jax.Array, mask: jax.Array) -> dict:
  """Sums for class probabilities of M rollouts per image: probs [B, M, C], label [B], mask [B].

  `correct` scores the M-rollout average, `correct_m1` the first rollout alone, `nll` is the
  average's negative log-likelihood of the label.
  """
  mean_probs = probs.mean(1)
  true_prob = jnp.take_along_axis(mean_probs, label[:, None], axis=1)[:, 0]
  return {
      "correct": jnp.sum(mask * (jnp.argmax(mean_probs, -1) == label)),
      "correct_m1": jnp.sum(mask * (jnp.argmax(probs[:, 0], -1) == label)),
      "nll": jnp.sum(mask * -jnp.log(jnp.maximum(true_prob, 1e-12))),
      "count": jnp.sum(mask),
  }


def accumulate(acc: dict | None, out: dict) -> dict:
  """Adds one eval batch's sums (on the device: nothing is fetched until `summarize`)."""
  return out if acc is None else jax.tree.map(lambda a, b: a + b, acc, out)


def summarize(sums: dict) -> dict:
  """Sums over examples from an eval step -> rates (module docstring)."""
  count = float(sums["count"])
  out = {}
  for k, v in sums.items():
    if k.startswith("count"):
      continue
    if k.startswith("correct"):
      suffix = k[len("correct"):]
      out["error" + suffix] = 1.0 - float(v) / float(sums.get("count" + suffix, count))
    else:
      out[k] = float(v) / count
  return out
