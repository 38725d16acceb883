"""What DREAL's critics do to the attention: channel gates, and critic Q against reward.

The pieces of `python -m attn_rl.tools.analyze_dreal`, on validation images only (never the
test split): the inference network's channel gates per block (the paper's Fig. 2), and every
map's critic value Q_l beside its realised reward R_l, computed as in training (BatchNorm in
training mode, R_l clipped or squashed as the config says), with the statistics of both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from attn_rl.data import pipeline
from attn_rl.methods.dreal import method as dreal_method
from attn_rl.methods.dreal import rewards as rewards_lib
from attn_rl.methods.dreal import steps as dreal_steps


def validation_batches(config, num: int):
  """The first `num` validation images and labels, cut into batches of train.batch_size."""
  images, labels = pipeline.eval_images(config.data, "validation", num)
  n, size = len(labels), config.train.batch_size
  return [(images[i:i + size], labels[i:i + size]) for i in range(0, n - size + 1, size)]


def channel_gates(model, state, batches) -> list[np.ndarray]:
  """Per block, the channel gates [N, C] of the inference network (BatchNorm averages)."""
  predict = jax.jit(dreal_steps.make_predict(model))
  variables = dreal_method.inference_variables(state)
  outs = [jax.device_get(predict(variables, x, None)["maps"]) for x, _ in batches]
  return [np.concatenate([o[b][0] for o in outs]) for b in range(len(outs[0]))]


def make_q_and_reward(model, dreal_config):
  """(state, images, labels) -> (Q [L * m, B], R [L * m, B]) for every map of every block."""
  critics = dreal_steps.make_critics(model)

  def q_and_reward(state, images, labels):
    variables = dreal_method.inference_variables(state)
    (logits, trace), _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
    maps = jnp.arange(len(trace.maps) * model.maps_per_block)
    p_sub = dreal_steps.substituted_true_probs(model, variables, images, labels, maps)
    p_full = jax.nn.softmax(logits)[jnp.arange(labels.shape[0]), labels]
    correct = jnp.argmax(logits, -1) == labels
    reward = rewards_lib.substitution_reward(
        jnp.broadcast_to(p_full, p_sub.shape), p_sub, jnp.broadcast_to(correct, p_sub.shape),
        gamma=dreal_config.gamma, transform=dreal_config.reward_transform)
    q = critics.apply({"params": state.trainable["critic"].params}, trace.maps, trace.reduced)
    return q, reward

  return jax.jit(q_and_reward)


def gate_stats(gates: list[np.ndarray]) -> list[dict]:
  """Per block: how spread the gates are across channels and across images."""
  rows = []
  for b, g in enumerate(gates):
    per_channel = np.median(g, axis=0)
    rows.append({
        "block": b, "channels": int(g.shape[1]), "mean_gate": float(g.mean()),
        "std_across_channels_of_median": float(per_channel.std()),
        "mean_std_across_images": float(g.std(axis=0).mean()),
    })
  return rows


def q_reward_stats(q: np.ndarray, r: np.ndarray, maps_per_block: int) -> list[dict]:
  rows = []
  for i in range(q.shape[0]):
    qi, ri = q[i], r[i]
    corr = float(np.corrcoef(qi, ri)[0, 1]) if qi.std() > 0 and ri.std() > 0 else None
    rows.append({"map": i, "block": i // maps_per_block, "pearson_r": corr,
                 "mean_abs_error": float(np.abs(qi - ri).mean()), "mean_q": float(qi.mean()),
                 "mean_reward": float(ri.mean())})
  return rows
