"""Train and eval steps of attention over video feature cubes.

  L = mean_t CE(logits_t, y)                                     (every step; `losses.step_loss`)
      + lambda sum_i (1 - sum_t l_{t,i})^2                        (`rl.penalty`; Eq. 8)
      + w_r * REINFORCE(scorer; r_N, b_t)                         (hard attention only)
      + w_b * mean_t (b_t - r_N)^2                                (hard attention only)
      (+ weight decay gamma on the kernels: the optimizer's `optim.weight_decay`)

averaged over B clips x M rollouts. r_N is the detection reward of the clip's prediction
(`losses.detection_reward`, Eq. 7), paid at the last step: every choice of the clip is credited
with it. One forward pass serves every term; the cuts in `model.VideoAttention.unroll` and
`rl.policy_gradient` route each term to its component (tests/video_test.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from attn_rl.core.state import State
from attn_rl.glimpse import rollout
from attn_rl.methods.video import losses
from attn_rl.methods.video.model import VideoAttention, clip_probs
from attn_rl.rl import policy_gradient


def one_hot_labels(label: jax.Array, model: VideoAttention) -> jax.Array:
  """[B, C] float: multi-hot rows as given, class indices one-hot."""
  if model.multilabel:
    return label.astype(jnp.float32)
  return jax.nn.one_hot(label, model.num_classes)


def loss_terms(model: VideoAttention, config, params: dict, clips, labels_bc, key,
               dropout_key=None):
  """({'classification', 'penalty'[, 'reinforce', 'baseline']}, aux, clip probs [B, C])."""
  out = model.unroll(params, clips, key, dropout_key=dropout_key)
  logits = out.logits.transpose(1, 0, 2)  # [B, T, C]
  terms = {
      "classification": jax.vmap(losses.step_loss, in_axes=(0, 0, None))(
          logits, labels_bc, model.multilabel).mean(),
      "penalty": jax.vmap(losses.attention_penalty, in_axes=1)(out.attention_probs).mean(),
  }
  probs = clip_probs(out.logits, model.multilabel)
  r = config.rl
  pred = jax.vmap(losses.predicted_set, in_axes=(0, None, None))(probs, model.multilabel,
                                                                    r.threshold)
  reward = jax.vmap(lambda p, y: losses.detection_reward(
      p, y, eta=r.eta, r_pos=r.reward_positive, r_neg=r.reward_negative))(pred, labels_bc)
  # The reward is a target, never differentiated (the prediction is an argmax anyway).
  reward = jax.lax.stop_gradient(reward)
  aux = {"reward/mean": reward.mean(), "reads/mean": out.reads.mean(),
         "attended/mean": out.attended.mean()}
  if model.attention == "hard":
    terms["reinforce"] = jax.vmap(policy_gradient.reinforce_loss, in_axes=(1, 0, 1))(
        out.log_probs, reward, out.baselines).mean()
    terms["baseline"] = jax.vmap(policy_gradient.baseline_loss, in_axes=(1, 0))(
        out.baselines, reward).mean()
    aux["baseline/mean"] = out.baselines.mean()
  return terms, aux, probs


def total_loss(config, terms: dict):
  total = terms["classification"] + config.rl.penalty * terms["penalty"]
  if "reinforce" in terms:
    total += (config.rl.reinforce_weight * terms["reinforce"]
              + config.rl.baseline_weight * terms["baseline"])
  return total


def correct(probs, label, multilabel: bool) -> jax.Array:
  """[B] float: the top class is the label (one label) or in the label set."""
  top = jnp.argmax(probs, -1)
  if multilabel:
    return jnp.take_along_axis(label, top[:, None], 1)[:, 0]
  return (top == label).astype(jnp.float32)


def make_train_step(config, model: VideoAttention):
  """train_step(state, batch, key) -> (state, metrics).

  batch: {'image': [B, T, K, K, D] float clips, 'label': [B] int32 or [B, C] multi-hot,
  'video': [B]}. key: the run's base key, folded with the step number.
  """
  num_rollouts = config.rl.num_rollouts

  def loss_fn(group_params, clips, labels_bc, key, dropout_key):
    params = {}
    for g in group_params.values():
      params.update(g)
    terms, aux, probs = loss_terms(model, config, params, clips, labels_bc, key, dropout_key)
    total = total_loss(config, terms)
    return total, ({**{f"loss/{k}": v for k, v in terms.items()}, **aux}, probs)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def train_step(state: State, batch, key):
    key = jax.random.fold_in(key, state.step)
    policy_key, dropout_key = jax.random.split(key)
    repeat = lambda x: jnp.repeat(x, num_rollouts, axis=0)
    labels_bc = one_hot_labels(batch["label"], model)
    # classifier, and policy (hard and soft) and baseline (hard): `method.init_state`.
    groups = tuple(state.trainable)
    group_params = {g: state.trainable[g].params for g in groups}
    (total, (aux, probs)), grads = grad_fn(group_params, repeat(batch["image"]),
                                           repeat(labels_bc), policy_key, dropout_key)
    state = state.apply_gradients(grads)
    b = batch["label"].shape[0]
    probs = probs.reshape(b, num_rollouts, -1).mean(1)
    metrics = {"loss/total": total, **aux,
               "acc": correct(probs, batch["label"], model.multilabel).mean(),
               **{f"grad_norm/{g}": optax.global_norm(grads[g]) for g in groups}}
    return state, metrics

  return train_step


def make_eval_step(config, model: VideoAttention):
  """eval_step(state, batch, key) -> per-clip rows for `evaluators.video`.

  `probs` are the M = eval.num_rollouts rollouts' clip scores averaged, `probs_m1` the first
  rollout's, `probs_det` the deterministic policy's (hard attention; soft and mean attention
  are deterministic: `probs` alone); `reads` the slices read per step (all of them where the
  choice needs them), `attended` those with a weight in X'_t. Each rollout draws from
  (key, the clip's `index`, rollout), so a score does not depend on the batch.
  """
  num_rollouts = config.eval.num_rollouts if model.attention == "hard" else 1

  def eval_step(state: State, batch, key):
    params = state.params()
    clips = jnp.repeat(batch["image"], num_rollouts, axis=0)
    out = model.unroll(params, clips, rollout.example_keys(key, batch["index"], num_rollouts))
    b = batch["image"].shape[0]
    probs = clip_probs(out.logits, model.multilabel).reshape(b, num_rollouts, -1)
    rows = {"probs": probs.mean(1), "label": batch["label"], "video": batch["video"],
            "mask": batch["mask"],
            "reads": out.reads.mean(0).reshape(b, num_rollouts).mean(1),
            "attended": out.attended.mean(0).reshape(b, num_rollouts).mean(1)}
    if model.attention == "hard":
      rows["probs_m1"] = probs[:, 0]
      det = model.unroll(params, batch["image"], key, deterministic=True)
      rows["probs_det"] = clip_probs(det.logits, model.multilabel)
      rows["attended_det"] = det.attended.mean(0)
    return rows

  return eval_step


def make_predict(model: VideoAttention):
  """predict(params, clips, key) -> Output, one rollout per clip (pictures)."""
  return lambda params, clips, key: model.unroll(params, clips, key)
