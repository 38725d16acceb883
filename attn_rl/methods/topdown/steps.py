"""Top-down + bottom-up train and eval steps (Chen et al. 2021, Eqs. 8-14).

Per image (B images x M rollouts each), in one forward pass:
  1. top-down: the Q-network descends the pyramid, choosing a region per level
     (epsilon-greedy or softmax exploration in training, greedy in evaluation);
  2. l_0 is drawn uniformly inside the chosen full-resolution window;
  3. bottom-up: a RAM episode of T glimpses from l_0.
Losses (Eq. 14 plus the agents' own objectives), each routed to one component by the
`stop_gradient` cuts in `model`, `glimpse.rollout`, `losses` and `rl`:
  classifier  -y log alpha_T  +  beta1 * (-y log Z)                    (context on)
  location    beta2 * J, J = REINFORCE, each term weighted by H(x_t) + lambda (entropy on)
  baseline    w_b * mean_t (b_t - R)^2
  qnet        mean_k (Q(s_k, a_k) - y_k)^2                                 (top-down on)
with R = r = 1[argmax alpha_T = y].

Q-learning (Eqs. 8-9). An image gives levels - 1 decisions; decision k is taken in s_k (the
level-k observation) and leads to s_{k+1}. Rewards are 0 except after the last decision,
whose next state is terminal: y_k = gamma * max_a' Q_target(s_{k+1}, a') for k < levels - 2,
y_last = r. With the default 2 levels there is one decision per image, a contextual bandit
regressing Q(s_0, a) on the bottom-up agent's success. The target network, a frozen
collection of the state, follows the online one by Polyak averaging or periodic copies
(`update_target`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from attn_rl.core.evaluators import classification
from attn_rl.core.state import State
from attn_rl.glimpse import rollout
from attn_rl.methods.topdown import losses as td_losses
from attn_rl.methods.topdown import model as model_lib
from attn_rl.methods.topdown.model import TopDownModel
from attn_rl.rl import policy_gradient, supervised, value_learning


def update_target(online, target, step, topdown_config):
  """Target parameters after an online update at `step` (the new step count).

  'polyak': target <- tau * online + (1 - tau) * target every step;
  'periodic': target <- online when step % target_period == 0, else unchanged.
  """
  c = topdown_config
  if c.target_update == "polyak":
    return optax.incremental_update(online, target, c.target_tau)
  if c.target_update == "periodic":
    return optax.periodic_update(online, target, step, c.target_period)
  raise ValueError(f"topdown.target_update must be 'polyak' or 'periodic', got {c.target_update!r}")


def _q_loss(model: TopDownModel, td_config, qnet_params, target_params, descent, reward):
  """Mean squared TD error over the decisions and images (see the module docstring)."""
  obs = descent.observations  # [K, B, S, S, C], K = levels - 1 decisions
  decisions, batch = obs.shape[:2]
  q_tm1 = model.q_values(qnet_params, obs.reshape(decisions * batch, *obs.shape[2:]))
  q_tm1 = q_tm1.reshape(decisions, batch, -1)
  # The last decision's next state is terminal: a dummy row, discounted by 0.
  q_t = jnp.zeros((1, *q_tm1.shape[1:]))
  if decisions > 1:
    # The target network is frozen between its updates: no gradient into it.
    next_obs = jax.lax.stop_gradient(obs[1:])
    q_next = model.q_values(target_params, next_obs.reshape(-1, *obs.shape[2:]))
    q_next = jax.lax.stop_gradient(q_next.reshape(decisions - 1, batch, -1))
    q_t = jnp.concatenate([q_next, q_t], axis=0)
  last = (jnp.arange(decisions) == decisions - 1)[:, None]
  # The reward is the outcome of the bottom-up episode, a constant target.
  r_t = jnp.where(last, jax.lax.stop_gradient(reward)[None], 0.0)
  discount_t = jnp.where(last, 0.0, td_config.discount) * jnp.ones_like(r_t)
  per = jax.vmap(jax.vmap(value_learning.q_learning_loss))(
      q_tm1, descent.actions, r_t, discount_t, q_t)
  chosen = jnp.take_along_axis(q_tm1, descent.actions[..., None], axis=-1)[..., 0]
  return per.mean(), chosen.mean()


def loss_terms(model: TopDownModel, config, params: dict, target_params, images, labels, keys,
               epsilon):
  """The loss terms, each a mean over the B*M episodes.

  Args:
    params: {component: params} (online).
    target_params: the target Q-network's parameters.
    images: [N, H, W, C] uint8 (or float in [0, 1]); labels [N] int32.
    keys: (explore_key, start_key, location_key).
    epsilon: exploration rate ('epsilon' exploration).

  Returns:
    (terms, aux, logits): terms {'classification', 'reinforce', 'baseline'} plus 'context'
    and 'q' when those pieces are on; aux, scalar diagnostics; logits [N, C] of alpha_T.
  """
  td, bu = config.topdown, config.bottomup
  explore_key, start_key, location_key = keys
  first, descent = None, None
  if td.enabled:
    descent = model.descend(params["qnet"], model_lib.as_float_images(images), explore_key,
                            exploration=td.exploration, epsilon=epsilon,
                            temperature=td.temperature)
    first = model_lib.sample_in_window(start_key, descent.top_left, model.final_window(),
                                       images.shape[1:3])
  out = model.unroll(params, images, location_key, first)
  reward = jax.vmap(supervised.correct_reward)(out.logits, labels)
  entropy_t = out.entropies if bu.entropy else jnp.zeros_like(out.entropies)
  lam = bu.entropy_lambda if bu.entropy else 1.0
  reinforce = jax.vmap(td_losses.entropy_weighted_reinforce_loss, in_axes=(1, 0, 1, 1, None))(
      out.log_probs, reward, out.baselines, entropy_t, lam)
  terms = {
      "classification": jax.vmap(supervised.classification_loss)(out.logits, labels).mean(),
      "reinforce": reinforce.mean(),
      "baseline": jax.vmap(policy_gradient.baseline_loss, in_axes=(1, 0))(
          out.baselines, reward).mean(),
  }
  aux = {"reward/mean": reward.mean(), "baseline/mean": out.baselines.mean(),
         "entropy/mean": out.entropies.mean()}
  if bu.context:
    terms["context"] = jax.vmap(td_losses.context_loss)(out.context_logits, labels).mean()
  if td.enabled:
    terms["q"], aux["q/chosen"] = _q_loss(model, td, params["qnet"], target_params, descent,
                                          reward)
  return terms, aux, out.logits


def _total(config, terms):
  total = (terms["classification"] + config.rl.reinforce_weight * terms["reinforce"]
           + config.rl.baseline_weight * terms["baseline"])
  if "context" in terms:
    total += config.bottomup.context_weight * terms["context"]
  if "q" in terms:
    total += terms["q"]
  return total


def make_train_step(config, model: TopDownModel):
  """train_step(state, batch, key) -> (state, metrics).

  batch: {'image': [B, H, W] uint8, 'label': [B] int32}. key: the run's base key, folded
  with the step number, so a resumed run draws what an uninterrupted one would.
  """
  num_rollouts, td = config.rl.num_rollouts, config.topdown
  epsilon_fn = optax.linear_schedule(td.epsilon_start, td.epsilon_end, td.epsilon_decay_steps)

  def loss_fn(classifier, location, baseline, qnet, target, images, labels, keys, epsilon):
    params = {**classifier, **location, **baseline, **qnet}
    terms, aux, logits = loss_terms(model, config, params, target["qnet"], images, labels, keys,
                                    epsilon)
    total = _total(config, terms)
    return total, ({**{f"loss/{k}": v for k, v in terms.items()}, **aux}, logits)

  grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 1, 2, 3), has_aux=True)

  def train_step(state: State, batch, key):
    key = jax.random.fold_in(key, state.step)
    explore_key, start_key, location_key = jax.random.split(key, 3)
    images = model_lib.with_channels(jnp.repeat(batch["image"], num_rollouts, axis=0))
    labels = jnp.repeat(batch["label"], num_rollouts, axis=0)
    epsilon = epsilon_fn(state.step)
    groups = state.trainable
    (total, (aux, logits)), grads = grad_fn(
        groups["classifier"].params, groups["location"].params, groups["baseline"].params,
        groups["qnet"].params, state.frozen["qnet_target"], images, labels,
        (explore_key, start_key, location_key), epsilon,
    )
    g_classifier, g_location, g_baseline, g_qnet = grads
    updates = {"classifier": g_classifier, "location": g_location, "baseline": g_baseline}
    if td.enabled:
      updates["qnet"] = g_qnet
    state = state.apply_gradients(updates)
    metrics = {}
    if td.enabled:
      qnet = state.trainable["qnet"]
      # The target moves only by this update rule, never by a gradient.
      state = state.replace_frozen(qnet_target=update_target(
          qnet.params, state.frozen["qnet_target"], qnet.step, td))
      metrics["grad_norm/qnet"] = optax.global_norm(g_qnet)
      if td.exploration == "epsilon":
        metrics["epsilon"] = epsilon
    probs = jax.nn.softmax(logits).reshape(-1, num_rollouts, logits.shape[-1]).mean(1)
    metrics.update({
        "loss/total": total,
        **aux,
        "acc": jnp.mean(jnp.argmax(probs, -1) == batch["label"]),
        "grad_norm/classifier": optax.global_norm(g_classifier),
        "grad_norm/location": optax.global_norm(g_location),
    })
    return state, metrics

  return train_step


def _greedy_start(model: TopDownModel, params, images, descend_key, start_key, repeats=1):
  """(l_0 [B * repeats, 2] or None, descent [B] or None): the top-down agent's greedy choice.

  The greedy descent draws nothing (its key is never used twice, nor used), so it runs once
  per image of `images` [B] and its window serves the image's `repeats` consecutive episodes;
  l_0 is drawn in it with `start_key`, one key or one per episode ([B * repeats]).
  """
  if not model.use_topdown:
    return None, None
  descent = model.descend(params["qnet"], model_lib.as_float_images(images), descend_key,
                          greedy=True)
  top_left = jnp.repeat(descent.top_left, repeats, axis=0)
  first = model_lib.sample_in_window(start_key, top_left, model.final_window(),
                                     images.shape[1:3])
  return first, descent


def make_eval_step(config, model: TopDownModel, *, descent_per_rollout: bool = False):
  """eval_step(state, batch, key) -> sums of masked metrics over the batch.

  The top-down choice is greedy; class probabilities are averaged over `eval.num_rollouts`
  bottom-up rollouts per image (each with its own l_0 in the chosen window); `correct_m1`
  scores the first rollout alone; `correct_context` scores Z (context on); `q_greedy` is the
  Q-value of the chosen region, the top-down agent's predicted chance of success. Each
  rollout draws from (key, the example's `index`, rollout), as RAM's do.

  The greedy descent runs once per image for all of its rollouts (the Q-network's
  convolution is the model's costliest op); `descent_per_rollout` runs it on each rollout's
  copy of the image instead, the definition written out (the same sums, slower: for tests
  and benchmarks/topdown_eval_descent.py).
  """
  num_rollouts = config.eval.num_rollouts

  def eval_step(state: State, batch, key):
    params = state.params()
    single = model_lib.with_channels(batch["image"])
    images = jnp.repeat(single, num_rollouts, axis=0)
    keys = jax.vmap(jax.random.split)(rollout.example_keys(key, batch["index"], num_rollouts))
    start_keys, location_keys = keys[:, 0], keys[:, 1]
    first, descent = (_greedy_start(model, params, images, key, start_keys)
                      if descent_per_rollout else
                      _greedy_start(model, params, single, key, start_keys, num_rollouts))
    out = model.unroll(params, images, location_keys, first)
    per_image = lambda x: jax.nn.softmax(x).reshape(-1, num_rollouts, x.shape[-1])
    label, mask = batch["label"], batch["mask"]
    sums = classification.probability_sums(per_image(out.logits), label, mask)
    if config.bottomup.context:
      context_probs = per_image(out.context_logits).mean(1)
      sums["correct_context"] = jnp.sum(mask * (jnp.argmax(context_probs, -1) == label))
    if model.use_topdown:
      # Per image (the per-rollout descent's M equal values averaged).
      q = jnp.max(descent.q_values[-1], -1).reshape(label.shape[0], -1).mean(1)
      sums["q_greedy"] = jnp.sum(mask * q)
    return sums

  return eval_step


def make_predict(model: TopDownModel):
  """predict(params, images, key) -> Prediction, one greedy-start rollout per image."""

  def predict(params, images, key):
    descend_key, start_key, location_key = jax.random.split(key, 3)
    images = model_lib.with_channels(images)
    first, descent = _greedy_start(model, params, images, descend_key, start_key)
    out = model.unroll(params, images, location_key, first)
    top_left = (descent.top_left if descent is not None
                else jnp.full((images.shape[0], 2), -1, jnp.int32))
    return model_lib.Prediction(out.logits, out.locations, top_left,
                                jnp.asarray(model.final_window()))

  return predict


def make_logits(config, model: TopDownModel):
  """logits(params, images, key, deterministic) -> [B, C] of the bottom-up classifier after a
  greedy top-down choice (as `eval_step` scores it), one episode per image from its key in
  `key` [B]. `deterministic`: l_0 at the chosen window's centre and the policy's mean after.
  The region choice is an argmax and the locations are sensed at integer pixels, so no
  gradient reaches the image through them (the attack's gradient is the pixels' alone)."""
  del config

  def logits(params, images, key, deterministic=False):
    images = model_lib.with_channels(images)
    keys = jax.vmap(jax.random.split)(key)
    start_keys, location_keys = keys[:, 0], keys[:, 1]
    # The greedy descent draws nothing with its key.
    first, descent = _greedy_start(model, params, images, start_keys[0], start_keys)
    if deterministic and first is not None:
      first = model_lib.window_centre(descent.top_left, model.final_window(), images.shape[1:3])
    return model.unroll(params, images, location_keys, first, deterministic=deterministic).logits

  return logits
