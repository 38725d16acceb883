"""DRAM train and eval steps on digit sequences (Ba et al. 2015, Sec. 3.1; Chen et al. 2021).

  L = sum_s CE(classify(r1 at label s), y_s)                 (valid positions s)
      + w_r * REINFORCE(emission pathway; G_t, b_t)  [entropy-weighted: (H(x_t) + lambda)]
      + w_b * mean_t (b_t - G_t)^2
      + beta1 * sum_s CE(f_c(C_s), y_s)                      (unified.context)

averaged over B images x M rollouts. G_t is the return of location l_t: with the cumulative
reward, the number of labels emitted at or after glimpse t that are right with every label
before them (`losses.sequence_return`). One forward pass serves every term; the cuts in
`model.DRAM.unroll`, `rl.policy_gradient` and `losses` route each term to its component, so
one `value_and_grad` over the groups' parameters gives each group its own gradient
(tests/dram_test.py checks the routing term by term).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from attn_rl.core.state import State
from attn_rl.glimpse import rollout
from attn_rl.methods.dram import losses
from attn_rl.methods.dram.model import DRAM, predictions
from attn_rl.methods.topdown import losses as td_losses
from attn_rl.rl import policy_gradient


def _valid(model: DRAM, lengths):
  return jax.vmap(lambda n: losses.valid_positions(n, model.positions, model.fixed))(lengths)


def loss_terms(model: DRAM, config, params: dict, images, labels, lengths, key):
  """The loss terms, each a mean over the B*M episodes.

  Args:
    images: [B, H, W] uint8; labels [B, S] int32 (END-padded); lengths [B] int32.
    key: the location noise's key.

  Returns:
    (terms {'classification', 'reinforce', 'baseline'[, 'context']}, aux scalars, logits
    [S, B, C]).
  """
  out = model.unroll(params, images, key)
  valid = _valid(model, lengths)
  logits = out.logits.transpose(1, 0, 2)  # [B, S, C]
  returns = jax.vmap(losses.sequence_return, in_axes=(0, 0, 0, None, None))(
      predictions(out.logits), labels, valid, model.k, config.rl.reward)  # [B, N]
  u = config.unified
  entropy = out.entropies if u.entropy else jnp.zeros_like(out.log_probs)
  lam = u.entropy_lambda if u.entropy else 1.0
  reinforce = jax.vmap(td_losses.entropy_weighted_reinforce_loss, in_axes=(1, 0, 1, 1, None))(
      out.log_probs, returns, out.baselines, entropy, lam)
  terms = {
      "classification": jax.vmap(losses.sequence_loss)(logits, labels, valid).mean(),
      "reinforce": reinforce.mean(),
      "baseline": jax.vmap(policy_gradient.baseline_loss, in_axes=(1, 0))(
          out.baselines, returns).mean(),
  }
  if u.context:
    terms["context"] = jax.vmap(losses.sequence_loss)(
        out.context_logits.transpose(1, 0, 2), labels, valid).mean()
  aux = {"reward/mean": returns[:, 0].mean(), "baseline/mean": out.baselines.mean()}
  if u.entropy:
    aux["entropy/mean"] = out.entropies.mean()
  return terms, aux, out.logits


def total_loss(config, terms: dict):
  total = (terms["classification"] + config.rl.reinforce_weight * terms["reinforce"]
           + config.rl.baseline_weight * terms["baseline"])
  if "context" in terms:
    total += config.unified.context_weight * terms["context"]
  return total


def averaged_predictions(logits_sbc: jax.Array, num_rollouts: int) -> jax.Array:
  """int32 [B, S] from [S, B*M, C]: per position, the argmax of the M rollouts' mean
  probabilities (rollouts example-major, as `jnp.repeat` lays them out)."""
  s, bm, c = logits_sbc.shape
  probs = jax.nn.softmax(logits_sbc, -1).reshape(s, bm // num_rollouts, num_rollouts, c)
  return predictions(probs.mean(2))


def make_train_step(config, model: DRAM):
  """train_step(state, batch, key) -> (state, metrics).

  batch: {'image': [B, H, W] uint8, 'label': [B, S] int32, 'length': [B] int32}. key: the
  run's base key, folded with the step number (a resumed run draws the same locations).
  """
  num_rollouts = config.rl.num_rollouts

  def loss_fn(classifier, location, baseline, images, labels, lengths, key):
    terms, aux, logits = loss_terms(model, config, {**classifier, **location, **baseline},
                                    images, labels, lengths, key)
    total = total_loss(config, terms)
    return total, ({**{f"loss/{k}": v for k, v in terms.items()}, **aux}, logits)

  grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 1, 2), has_aux=True)

  def train_step(state: State, batch, key):
    key = jax.random.fold_in(key, state.step)
    (location_key,) = jax.random.split(key, 1)
    repeat = lambda x: jnp.repeat(x, num_rollouts, axis=0)
    groups = state.trainable
    (total, (aux, logits)), grads = grad_fn(
        groups["classifier"].params, groups["location"].params, groups["baseline"].params,
        repeat(batch["image"]), repeat(batch["label"]), repeat(batch["length"]), location_key)
    g_classifier, g_location, g_baseline = grads
    state = state.apply_gradients(
        {"classifier": g_classifier, "location": g_location, "baseline": g_baseline})
    pred = averaged_predictions(logits, num_rollouts)
    sums = losses.sequence_sums(pred, batch["label"], batch["length"],
                                jnp.ones(pred.shape[0]), model.fixed)
    metrics = {
        "loss/total": total,
        **aux,
        "acc": sums["correct"] / pred.shape[0],
        "acc/digit": sums["correct_digit"] / jnp.maximum(sums["count_digit"], 1.0),
        "grad_norm/classifier": optax.global_norm(g_classifier),
        "grad_norm/location": optax.global_norm(g_location),
    }
    return state, metrics

  return train_step


def make_eval_step(config, model: DRAM):
  """eval_step(state, batch, key) -> masked sums (`losses.sequence_sums`).

  `correct` scores the labels of the M = eval.num_rollouts rollouts' averaged probabilities
  (position by position), `correct_m1` the first rollout alone, `correct_det` the
  deterministic policy (every location the emission's mean); each with its per-digit
  counterpart; `nll` is -log of the averaged probabilities of the true labels. Each rollout
  draws from (key, the example's `index`, rollout), so a score does not depend on the batch.
  """
  num_rollouts = config.eval.num_rollouts

  def eval_step(state: State, batch, key):
    params = state.params()
    label, length, mask = batch["label"], batch["length"], batch["mask"]
    images = jnp.repeat(batch["image"], num_rollouts, axis=0)
    out = model.unroll(params, images, rollout.example_keys(key, batch["index"], num_rollouts))
    s, _, c = out.logits.shape
    probs = jax.nn.softmax(out.logits, -1).reshape(s, -1, num_rollouts, c)
    sums = losses.sequence_sums(predictions(probs.mean(2)), label, length, mask, model.fixed)
    sums.update(losses.sequence_sums(predictions(probs[:, :, 0]), label, length, mask,
                                     model.fixed, "_m1"))
    det = model.unroll(params, batch["image"], key, deterministic=True)
    sums.update(losses.sequence_sums(predictions(det.logits), label, length, mask, model.fixed,
                                     "_det"))
    true = jnp.take_along_axis(probs.mean(2), label.T[..., None], -1)[..., 0]  # [S, B]
    nll = jnp.where(_valid(model, length).T, -jnp.log(jnp.maximum(true, 1e-12)), 0.0)
    sums["nll"] = jnp.sum(mask * nll.sum(0))
    sums["count"] = jnp.sum(mask)
    return sums

  return eval_step


def make_predict(model: DRAM):
  """predict(params, images, key) -> Output, one rollout per image (pictures)."""
  return lambda params, images, key: model.unroll(params, images, key)
