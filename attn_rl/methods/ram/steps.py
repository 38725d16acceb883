"""RAM train and eval steps: the hybrid loss of Mnih et al. 2014, Sec. 3.2.

  L = CE(action(h_T), y) + w_r * REINFORCE(location) + w_b * (b_t - R)^2,  R = 1[argmax = y]

averaged over B images x M Monte-Carlo rollouts each. One forward pass serves all three
terms; the `stop_gradient` cuts inside `RAM.unroll` and `losses` route each term to its
component, so one `value_and_grad` over the three components' parameters yields exactly the
per-component gradients (tests/ram_test.py checks the routing term by term).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from attn_rl.core.evaluators import classification
from attn_rl.core.state import State
from attn_rl.glimpse import rollout
from attn_rl.methods.ram.model import RAM
from attn_rl.rl import policy_gradient, supervised


def loss_terms(model: RAM, params: dict, images, labels, key):
  """The three terms of the hybrid loss, each a mean over the B*M episodes.

  Returns ({'classification', 'reinforce', 'baseline'}: scalars, aux) where aux holds the
  per-episode reward [B*M], baseline mean and logits [B*M, C].
  """
  out = model.unroll(params, images, key)
  ce = jax.vmap(supervised.classification_loss)(out.logits, labels)
  reward = jax.vmap(supervised.correct_reward)(out.logits, labels)
  reinforce = jax.vmap(policy_gradient.reinforce_loss, in_axes=(1, 0, 1))(
      out.log_probs, reward, out.baselines)
  base = jax.vmap(policy_gradient.baseline_loss, in_axes=(1, 0))(out.baselines, reward)
  terms = {"classification": ce.mean(), "reinforce": reinforce.mean(), "baseline": base.mean()}
  return terms, {"reward": reward, "baseline_mean": out.baselines.mean(), "logits": out.logits}


def _loss_fn(model: RAM, rl_config, classifier, location, baseline, images, labels, key):
  terms, aux = loss_terms(model, {**classifier, **location, **baseline}, images, labels, key)
  total = (terms["classification"] + rl_config.reinforce_weight * terms["reinforce"]
           + rl_config.baseline_weight * terms["baseline"])
  metrics = {
      **{f"loss/{k}": v for k, v in terms.items()},
      "reward/mean": aux["reward"].mean(),
      "baseline/mean": aux["baseline_mean"],
  }
  return total, (metrics, aux["logits"])


def make_train_step(config, model: RAM):
  """train_step(state, batch, key) -> (state, metrics).

  batch: {'image': [B, H, W] uint8, 'label': [B] int32}. key: the run's base key; the step
  folds in its own step number, so no RNG state is stored and a resumed run draws the same
  locations as an uninterrupted one.
  """
  num_rollouts = config.rl.num_rollouts
  rl_config = config.rl
  grad_fn = jax.value_and_grad(
      lambda *a: _loss_fn(model, rl_config, *a), argnums=(0, 1, 2), has_aux=True
  )

  def train_step(state: State, batch, key):
    key = jax.random.fold_in(key, state.step)
    (location_key,) = jax.random.split(key, 1)
    images = jnp.repeat(batch["image"], num_rollouts, axis=0)
    labels = jnp.repeat(batch["label"], num_rollouts, axis=0)
    groups = state.trainable
    (total, (aux, logits)), grads = grad_fn(
        groups["classifier"].params, groups["location"].params, groups["baseline"].params,
        images, labels, location_key,
    )
    g_classifier, g_location, g_baseline = grads
    state = state.apply_gradients(
        {"classifier": g_classifier, "location": g_location, "baseline": g_baseline})
    probs = jax.nn.softmax(logits).reshape(-1, num_rollouts, logits.shape[-1]).mean(1)
    metrics = {
        "loss/total": total,
        **aux,
        "acc": jnp.mean(jnp.argmax(probs, -1) == batch["label"]),
        "grad_norm/classifier": optax.global_norm(g_classifier),
        "grad_norm/location": optax.global_norm(g_location),
    }
    return state, metrics

  return train_step


def make_eval_step(config, model: RAM):
  """eval_step(state, batch, key) -> sums of masked metrics over the batch.

  Class probabilities are averaged over `eval.num_rollouts` rollouts per image; `correct_m1`
  scores the first rollout alone (M = 1). batch adds 'mask' [B] (0 on padding) and 'index'
  [B], each example's index in its split: its rollouts draw from (key, index), so a score
  does not depend on the batch size or the device count.
  """
  num_rollouts = config.eval.num_rollouts

  def eval_step(state: State, batch, key):
    images = jnp.repeat(batch["image"], num_rollouts, axis=0)
    keys = rollout.example_keys(key, batch["index"], num_rollouts)
    out = model.unroll(state.params(), images, keys)
    probs = jax.nn.softmax(out.logits).reshape(-1, num_rollouts, out.logits.shape[-1])
    return classification.probability_sums(probs, batch["label"], batch["mask"])

  return eval_step


def make_predict(model: RAM):
  """predict(params, images, key) -> RAMOutput, one rollout per image (for pictures)."""
  return lambda params, images, key: model.unroll(params, images, key)


def make_logits(config, model: RAM):
  """logits(params, images, key, deterministic) -> [B, C]: one episode per image, its key one
  of `key` [B]; `deterministic`: the policy's mean locations. For attacks (Method.make_logits)."""
  del config

  def logits(params, images, key, deterministic=False):
    return model.unroll(params, images, key, deterministic=deterministic).logits

  return logits
