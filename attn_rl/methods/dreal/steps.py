"""DREAL train and eval steps: attention modules as actors, recurrent critics as their judges.

One jitted step updates three parameter groups, each with its own optimizer:

  backbone W    L_c = cross-entropy
  actor theta   L_c + w_q * L_q,  L_q = -mean over maps and examples of Q_l   (critic frozen)
  critic phi    L_r = mean over the substituted maps of (Q_l - R_l)^2          (actor frozen)

with R_l the mean-substitution reward of `rewards.py` (w_q is 0 for the first
`dreal.actor_delay_steps` steps, a critic warm-up). Each step the PRNG picks one
block per stage (the same for the whole batch; `dreal.redraw_every_steps` > 1 holds a draw for
that many steps, as the paper's per-epoch bypass); with `dreal.substitute='block'` every map of
those blocks (CBAM: channel and spatial) is replaced by its mean, with 'map' one map of each
drawn block, drawn uniformly (CBAM: half the rollouts; each critic then gets its reward every
other step on average). The substitutions run in one `jax.vmap`ped rollout over the map
indices, under `stop_gradient` (with `dreal.reuse_prefix`, one vmap per stage that starts
at the drawn block's attention module from what the unchanged forward pass saved, so nothing
before it is recomputed), with BatchNorm in training mode as in the unchanged forward pass
(so only the substitution differs) and its statistics updates discarded.

Gradient routing, with one `value_and_grad` over (W, theta, phi) of L_c + w_q L_q + L_r:
  * L_r reads the critic's inputs (maps and reduced features) through `stop_gradient`.
  * L_q evaluates the critic under `stop_gradient` of phi, on maps recomputed by applying each
    block's attention module to `stop_gradient` of its input: the deterministic policy
    gradient dQ/dA * dA/dtheta at a fixed state, which reaches theta and never W. (Without the
    recompute, dQ/dA would flow on through the features into W.) The recompute discards its
    BatchNorm statistics updates, so the running averages move once per step.
  * L_c never reads phi.
tests/dreal_test.py checks each term against each group.

`dreal.critics=False` (vanilla) trains the same network with L_c alone; the critic parameters
are then initialised but never used or updated.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from attn_rl.backbones import attention as attention_lib
from attn_rl.backbones.resnet import ResNet, split_params
from attn_rl.core.state import State
from attn_rl.methods.dreal import rewards as rewards_lib
from attn_rl.methods.dreal.critics import Critics


def make_critics(model: ResNet, hidden: int = 1) -> Critics:
  """The critics of `model`'s attention maps; hidden: `dreal.critic_hidden` (1: the paper's)."""
  return Critics(tuple(model.stage_of_block()), attention_lib.MAP_KINDS[model.attention], hidden)


def init_variables(model: ResNet, key: jax.Array, image_shape: tuple[int, ...],
                   critic_hidden: int = 1) -> dict:
  """{'backbone', 'actor', 'critic', 'batch_stats'} for images of shape [H, W] or [H, W, C]."""
  model_key, critic_key = jax.random.split(key)
  images = jnp.zeros((2, *image_shape), jnp.uint8)
  (_, trace), variables = model.init_with_output(model_key, images, train=False)
  backbone, actor = split_params(variables["params"])
  # A plain ResNet (attention 'none') has no maps, so no critics.
  critic = (make_critics(model, critic_hidden).init(critic_key, trace.maps, trace.reduced)["params"]
            if model.maps_per_block else {})
  return {"backbone": backbone, "actor": actor, "critic": critic,
          "batch_stats": variables["batch_stats"]}


SUBSTITUTE = ("block", "map")


def choose_overrides(model: ResNet, key: jax.Array, substitute: str = "block") -> jax.Array:
  """Map indices to substitute, grouped by stage, from one uniformly drawn block per stage.

  substitute='block': every map of the block, [S * maps_per_block]; 'map': one of its maps,
  drawn uniformly, [S]. (The two agree for SE and SRM, which have one map per block.)
  """
  if substitute not in SUBSTITUTE:
    raise ValueError(f"dreal.substitute={substitute!r}: use one of {SUBSTITUTE}.")
  blocks, start = [], 0
  for s, size in enumerate(model.stage_sizes):
    blocks.append(start + jax.random.randint(jax.random.fold_in(key, s), (), 0, size))
    start += size
  m = model.maps_per_block
  first = jnp.stack(blocks)[:, None] * m
  if substitute == "block":
    return (first + jnp.arange(m)).reshape(-1).astype(jnp.int32)
  which = jax.random.randint(jax.random.fold_in(key, len(blocks)), (len(blocks), 1), 0, m)
  return (first + which).reshape(-1).astype(jnp.int32)


def substituted_true_probs(model: ResNet, variables: dict, images, labels, overrides,
                           start_block: int | None = None, start_branch=None):
  """p_c(X | map o replaced by its mean) [R, B] for each o of overrides [R], in one vmap.

  With start_block set, `images` is that block's input and the forward starts there (at its
  attention module when its branch output `start_branch` is given: `ResNet`).
  """

  def one(o):
    (logits, _), _ = model.apply(variables, images, o, train=True, mutable=["batch_stats"],
                                 start_block=start_block, start_branch=start_branch)
    return _true_prob(logits, labels)

  return jax.vmap(one)(overrides)


def rollouts_from_drawn_blocks(model: ResNet, variables: dict, trace, labels, overrides):
  """As `substituted_true_probs` for `choose_overrides`' maps (grouped by stage, all of a
  stage's maps in its one drawn block), reusing the unchanged prefix: each stage's rollouts
  start at its drawn block's attention module, from the block's input and branch output in
  `trace` (the unchanged forward's), one vmap per stage. Same result, fewer FLOPs: the stages
  and blocks before the drawn block, and the drawn block's own convolutions, are not
  recomputed.

  The drawn block is traced, so each stage picks its start with `lax.switch` over its blocks,
  which runs one branch; where the block index is itself batched (`train.seeds_mode='vmap'`
  over seeds that drew different blocks), `vmap` turns the switch into a select that runs every
  branch (docs/throughput.md measures both seed modes).
  """
  m = overrides.shape[0] // len(model.stage_sizes)
  out = []
  for s, (start, size) in enumerate(zip(model.stage_starts(), model.stage_sizes, strict=True)):
    stage_overrides = overrides[s * m:(s + 1) * m]

    def from_block(i, stage_overrides):
      return substituted_true_probs(model, variables, trace.block_inputs[i], labels,
                                    stage_overrides, start_block=i,
                                    start_branch=trace.inputs[i])

    block = stage_overrides[0] // model.maps_per_block - start
    branches = [functools.partial(from_block, start + b) for b in range(size)]
    out.append(jax.lax.switch(block, branches, stage_overrides))
  return jnp.concatenate(out)


def _true_prob(logits, labels):
  return jnp.take_along_axis(jax.nn.softmax(logits), labels[:, None], axis=1)[:, 0]


def recomputed_maps(model: ResNet, actor: dict, batch_stats: dict, trace):
  """(maps, reduced) of every block's attention module re-applied to its input under
  stop_gradient: gradients reach theta only (see the module docstring)."""
  maps, reduced = [], []
  for i, x in enumerate(trace.inputs):
    name = f"attention{i}"
    variables = {"params": actor[name]}
    if name in batch_stats:
      variables["batch_stats"] = batch_stats[name]
    # The state the actor acts on: fixed, so L_q cannot reach W through the features.
    fixed = jax.lax.stop_gradient(x)
    (_, m, r), _ = model.attention_module(i).apply(variables, fixed, None, True,
                                                   mutable=["batch_stats"])
    maps.append(m)
    reduced.append(r)
  return maps, reduced


def classification_loss(logits, trace, labels) -> dict:
  """L_c: {'classification': the mean cross-entropy} (DREAL's supervised loss on images)."""
  del trace
  return {"classification": optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()}


def loss_terms(model: ResNet, dreal_config, backbone, actor, critic, batch_stats, images, labels,
               overrides, supervised_loss=classification_loss):
  """The losses (scalars) and aux: metrics, the new batch statistics and the logits.

  overrides [R]: map indices substituted for the rewards (`choose_overrides`).
  supervised_loss(logits, trace, labels) -> {name: scalar}: the terms that train W and theta
  besides L_q (default L_c; re-identification adds a triplet term on `trace.features`).
  """
  params = {**backbone, **actor}
  (logits, trace), new_vars = model.apply(
      {"params": params, "batch_stats": batch_stats}, images, train=True, mutable=["batch_stats"])
  terms = dict(supervised_loss(logits, trace, labels))
  if {"actor", "critic"} & set(terms):
    raise ValueError("supervised_loss may not name its terms 'actor' or 'critic'.")
  metrics = {}
  if dreal_config.critics:
    # Rewards are targets: no gradient may flow from them into W or theta.
    frozen = jax.lax.stop_gradient({"params": params, "batch_stats": batch_stats})
    logits_fixed = jax.lax.stop_gradient(logits)
    p_full = _true_prob(logits_fixed, labels)
    if dreal_config.reuse_prefix:
      p_sub = rollouts_from_drawn_blocks(
          model, frozen, jax.lax.stop_gradient(trace), labels, overrides)
    else:
      p_sub = substituted_true_probs(model, frozen, images, labels, overrides)
    correct = jnp.argmax(logits_fixed, -1) == labels
    reward = rewards_lib.substitution_reward(
        jnp.broadcast_to(p_full, p_sub.shape), p_sub, jnp.broadcast_to(correct, p_sub.shape),
        gamma=dreal_config.gamma, transform=dreal_config.reward_transform)
    critics = make_critics(model, dreal_config.critic_hidden)
    # The critic regresses on the maps the actor produced; it must not move the actor.
    maps_in, reduced_in = jax.lax.stop_gradient((trace.maps, trace.reduced))
    q = critics.apply({"params": critic}, maps_in, reduced_in)[overrides]
    terms["critic"] = jnp.mean((q - reward) ** 2)
    maps_q, reduced_q = recomputed_maps(model, actor, batch_stats, trace)
    # The actor climbs Q with the critic held fixed.
    q_actor = critics.apply({"params": jax.lax.stop_gradient(critic)}, maps_q, reduced_q)
    terms["actor"] = -jnp.mean(q_actor)
    metrics = {"reward/mean": reward.mean(), "q/mean": q_actor.mean(),
               "q/substituted": q.mean(), "prob/substituted": p_sub.mean(),
               "prob/full": p_full.mean()}
  return terms, (metrics, new_vars["batch_stats"], logits)


def total_loss(terms: dict, q_weight) -> jax.Array:
  """The supervised terms, plus w_q L_q + L_r with critics; q_weight: w_q at this step
  (`actor_weight`)."""
  total = sum(v for k, v in terms.items() if k not in ("actor", "critic"))
  if "actor" in terms:
    total = total + q_weight * terms["actor"] + terms["critic"]
  return total


def actor_weight(dreal_config, step) -> jax.Array:
  """w_q at `step`: 0 while the critics warm up (`dreal.actor_delay_steps`), then
  `dreal.q_weight`."""
  return jnp.where(step >= dreal_config.actor_delay_steps, dreal_config.q_weight, 0.0)


def draw_key(dreal_config, key: jax.Array, step) -> jax.Array:
  """The key that picks the substituted blocks: new every step (`dreal.redraw_every_steps`=1,
  our default) or held for that many steps (the paper's "during each training epoch, one
  building block in each stage is bypassed" is the number of steps in an epoch)."""
  (block_key,) = jax.random.split(
      jax.random.fold_in(key, step // dreal_config.redraw_every_steps), 1)
  return block_key


def make_train_step(config, model: ResNet, supervised_loss=classification_loss):
  """train_step(state, batch, key) -> (state, metrics).

  batch: {'image': [B, H, W] uint8 (or [B, H, W, C]), 'label': [B] int32}. key: the run's base
  key; the step folds in its step number. `supervised_loss` as in `loss_terms`.
  """
  d = config.dreal

  def loss_fn(backbone, actor, critic, batch_stats, images, labels, overrides, q_weight):
    terms, aux = loss_terms(model, d, backbone, actor, critic, batch_stats, images, labels,
                            overrides, supervised_loss)
    return total_loss(terms, q_weight), (terms, aux)

  grad_fn = jax.value_and_grad(loss_fn, argnums=(0, 1, 2), has_aux=True)

  def train_step(state: State, batch, key):
    overrides = choose_overrides(model, draw_key(d, key, state.step), d.substitute)
    groups = state.trainable
    (total, (terms, (metrics, new_stats, logits))), grads = grad_fn(
        groups["backbone"].params, groups["actor"].params, groups["critic"].params,
        state.frozen["batch_stats"], batch["image"], batch["label"], overrides,
        actor_weight(d, state.step))
    g_backbone, g_actor, g_critic = grads
    updates = {"backbone": g_backbone, "actor": g_actor}
    if d.critics:
      updates["critic"] = g_critic
    state = state.apply_gradients(updates).replace_frozen(batch_stats=new_stats)
    return state, {
        "loss/total": total,
        **{f"loss/{k}": v for k, v in terms.items()},
        **metrics,
        "acc": jnp.mean(jnp.argmax(logits, -1) == batch["label"]),
        "grad_norm/backbone": optax.global_norm(g_backbone),
        "grad_norm/actor": optax.global_norm(g_actor),
    }

  return train_step


def make_eval_step(config, model: ResNet):
  """eval_step(state, batch, key) -> masked sums over the batch (BatchNorm running averages).

  The network is deterministic: one pass per image, so there is no `correct_m1` to report.
  """
  del config

  def eval_step(state: State, batch, key):
    del key
    variables = {"params": state.params("backbone", "actor"),
                 "batch_stats": state.frozen["batch_stats"]}
    logits, _ = model.apply(variables, batch["image"], train=False)
    label, mask = batch["label"], batch["mask"]
    correct = jnp.sum(mask * (jnp.argmax(logits, -1) == label))
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, label)
    return {"correct": correct, "nll": jnp.sum(mask * nll),
            "count": jnp.sum(mask)}

  return eval_step


def make_predict(model: ResNet):
  """predict(variables, images, key) -> {'logits' [B, K], 'maps': per block, tuple of [B, D]}."""

  def predict(variables, images, key):
    del key
    logits, trace = model.apply(variables, images, train=False)
    return {"logits": logits, "maps": trace.maps}

  return predict


def make_logits(config, model: ResNet):
  """logits(variables, images, key, deterministic) -> [B, K] (BatchNorm running averages);
  the network draws nothing, so `key` and `deterministic` are unused."""
  del config

  def logits(variables, images, key, deterministic=False):
    del key, deterministic
    return model.apply(variables, images, train=False)[0]

  return logits
