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
import optax

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
  """(state, images, labels[, critic]) -> (Q [L * m, B], R [L * m, B]) for every map of every
  block."""
  critics = dreal_steps.make_critics(model, dreal_config.critic_hidden)

  def q_and_reward(state, images, labels, critic=None):
    """critic: parameters to score with instead of the state's own."""
    variables = dreal_method.inference_variables(state)
    (logits, trace), _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
    maps = jnp.arange(len(trace.maps) * model.maps_per_block)
    p_sub = dreal_steps.substituted_true_probs(model, variables, images, labels, maps)
    p_full = jax.nn.softmax(logits)[jnp.arange(labels.shape[0]), labels]
    correct = jnp.argmax(logits, -1) == labels
    reward = rewards_lib.substitution_reward(
        jnp.broadcast_to(p_full, p_sub.shape), p_sub, jnp.broadcast_to(correct, p_sub.shape),
        gamma=dreal_config.gamma, transform=dreal_config.reward_transform)
    critic = state.trainable["critic"].params if critic is None else critic
    q = critics.apply({"params": critic}, trace.maps, trace.reduced)
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


def make_critic_probe(model, dreal_config, critic_optimizer):
  """A step that trains critics alone against a frozen network: (critic, opt_state, frozen
  state, images, labels, key) -> (critic, opt_state, loss).

  The network (backbone, actor, BatchNorm averages) stays as trained; the rewards and the
  critic's inputs are computed exactly as the training step computes them (`loss_terms`:
  BatchNorm in training mode, one block per stage drawn from the key, its maps substituted),
  and only L_r = mean (Q_l - R_l)^2 moves the critic. This asks whether a critic can learn R
  at all when the actor does not move under it.
  """
  probe_config = dreal_config.copy_and_resolve_references()
  with probe_config.unlocked():
    probe_config.critics = True

  def loss(critic, state, images, labels, overrides):
    terms, _ = dreal_steps.loss_terms(
        model, probe_config, state.trainable["backbone"].params,
        state.trainable["actor"].params, critic, state.frozen["batch_stats"], images, labels,
        overrides)
    return terms["critic"]

  def step(critic, opt_state, state, images, labels, key):
    overrides = dreal_steps.choose_overrides(model, key, probe_config.substitute)
    value, grads = jax.value_and_grad(loss)(critic, state, images, labels, overrides)
    updates, opt_state = critic_optimizer.update(grads, opt_state, critic)
    return optax.apply_updates(critic, updates), opt_state, value

  return jax.jit(step)


def make_correct(model):
  """(state, images, labels) -> [B] bool: whether the unchanged network, as the rewards see it
  (BatchNorm in training mode), predicts the true class; where not, every map's R is -gamma."""

  def correct(state, images, labels):
    variables = dreal_method.inference_variables(state)
    (logits, _), _ = model.apply(variables, images, train=True, mutable=["batch_stats"])
    return jnp.argmax(logits, -1) == labels

  return jax.jit(correct)


def prediction_stats(q: np.ndarray, r: np.ndarray, correct: np.ndarray | None = None) -> dict:
  """How well Q [maps, N] predicts R [maps, N]: Pearson r over every map's pairs pooled and
  per map, and the mean squared error against that of the best constant per map (R's
  variance), so `explained` = 1 - mse / variance is the share of R's variance Q accounts for.
  With `correct` [N] (`make_correct`), also the same on the correctly predicted images alone
  (`correct_only`: the part of R that measures a map's worth rather than the -gamma penalty)."""
  out = _prediction_stats(q, r)
  if correct is not None:
    correct = np.asarray(correct, bool)
    out["fraction_correct"] = float(correct.mean())
    out["correct_only"] = _prediction_stats(q[:, correct], r[:, correct])
  return out


def _prediction_stats(q: np.ndarray, r: np.ndarray) -> dict:
  per_map = [float(np.corrcoef(qi, ri)[0, 1]) if qi.std() > 0 and ri.std() > 0 else None
             for qi, ri in zip(q, r, strict=True)]
  mse = float(np.mean((q - r) ** 2))
  variance = float(np.mean(r.var(axis=1)))
  pooled = (float(np.corrcoef(q.ravel(), r.ravel())[0, 1]) if q.std() > 0 and r.std() > 0
            else None)
  valid = [x for x in per_map if x is not None]
  return {"pearson_r_all": pooled, "pearson_r_per_map": per_map,
          "pearson_r_mean_per_map": float(np.mean(valid)) if valid else None, "mse": mse,
          "reward_variance": variance, "explained": 1.0 - mse / variance if variance else None}
