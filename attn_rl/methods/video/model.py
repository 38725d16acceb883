"""Attention over video feature cubes, as a pure unroll over Linen networks.

Each frame t of a clip is a cube X_t of K x K slices X_{t,i} (D features each). At every step
the model forms one input X'_t from the slices, feeds it to a stack of LSTMs, and predicts the
action from the top layer through a tanh hidden layer ("the REINFORCE paper", Sec. II.C):

  scorer     a score per slice: 'state' policies score from h_{t-1} alone (Dense(K^2), the
             location softmax of Sharma et al. 2015, Eq. 4), so only the chosen slices are
             read; 'content' policies score every slice, v^T tanh(W_x X_{t,i} + W_h h_{t-1})
             (Show, attend and tell's form, as the issue states the soft baseline), so every
             slice is read to choose
  attention  'hard' (REINFORCE; the REINFORCE paper, Eq. 3: X'_t = sum_i l_{t,i} X_{t,i}):
               limited, m = `glimpses` > 0: m distinct slices drawn from softmax(scores)
               (Plackett-Luce: Gumbel top-m, log-probability of the ordered draw), each
               weighted 1/m; deterministically the m best scores
               unlimited (`glimpses` = 0): every slice read or not, Bernoulli(sigmoid(score)),
               the read ones averaged (none read: X'_t = 0); deterministically score > 0
             'soft' (Sharma et al.): X'_t = sum_i alpha_{t,i} X_{t,i}, alpha = softmax(scores),
               trained by backpropagation
             'mean' (no attention): X'_t = the mean slice
  where      what the core learns of where it attended (ours, a marked variant; the paper's
             Eq. 3 pools without positions): '' nothing (the paper); 'map' the weights l_t
             themselves, appended to X'_t (the core's input kernel makes this a learned
             embedding of the attended positions, as RAM feeds its glimpse's location);
             'coords' the attended (row, column) centroid in [-1, 1]^2. A content scorer
             reads the same position features beside each slice.
  motion     a diagnostic control, not the paper (`motion`): each slice also carries
             |X_{t,i} - X_{t-1,i}| (0 at the first frame), so what moves is in the features
             themselves; it asks whether the cubes and the budget allow the task at all
  core       `lstm_layers` LSTMs of `lstm_hidden` (the paper: 3 of 512), dropout on X'_t and on
             the top output (training only)
  classify   logits_t = Dense(C)(tanh(Dense(hidden)(h_t))) at every step
  baseline   b_t = Dense(1)(stop_gradient(h_{t-1})), the REINFORCE baseline of step t's choice

`attention_probs` [T, B, K^2] is the attention the doubly stochastic penalty sums over time:
alpha (soft), the policy's softmax (hard, limited) or its normalised Bernoulli probabilities
(hard, unlimited); it carries gradient into the scorer (the penalty of the paper's Eq. 8).

Gradient routing (tested in tests/video_test.py): the hard choice is a sample (cut) and the
hard scorer reads stop_gradient(h_{t-1}), so REINFORCE (and the penalty) train the scorer
only and the cross-entropy trains core and classifier only; the baseline reads a cut h. Soft
attention is one differentiable network, as in Sharma et al.: the cross-entropy reaches the
scorer through alpha and the core through h_{t-1}, and so does the penalty.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

ATTENTIONS = ("hard", "soft", "mean")
POLICY_INPUTS = ("state", "content")
WHERE = ("", "map", "coords")


def position_features(grid: int, where: str) -> jax.Array:
  """[K^2, P]: what each slice's position contributes ('' P = 0; 'map' the one-hot of the
  slice, P = K^2; 'coords' its (row, column) in [-1, 1], P = 2), slices in row-major order."""
  n = grid * grid
  if where == "map":
    return jnp.eye(n)
  if where == "coords":
    axis = jnp.linspace(-1.0, 1.0, grid) if grid > 1 else jnp.zeros(1)
    rows, cols = jnp.meshgrid(axis, axis, indexing="ij")
    return jnp.stack([rows.ravel(), cols.ravel()], -1)
  if where == "":
    return jnp.zeros((n, 0))
  raise ValueError(f"model.where={where!r} must be one of {WHERE}.")


def with_motion(clips: jax.Array) -> jax.Array:
  """[B, T, K, K, D] -> [B, T, K, K, 2D]: each slice, then its absolute change since the
  previous frame (zero at the first frame)."""
  previous = jnp.concatenate([clips[:, :1], clips[:, :-1]], axis=1)
  return jnp.concatenate([clips, jnp.abs(clips - previous)], -1)


class StateScorer(nn.Module):
  num_slices: int

  @nn.compact
  def __call__(self, slices, h):
    """slices [B, K^2, D] (unread), h [B, H] -> scores [B, K^2]."""
    del slices
    return nn.Dense(self.num_slices, name="out")(h)


class ContentScorer(nn.Module):
  hidden: int = 256

  @nn.compact
  def __call__(self, slices, h):
    """slices [B, K^2, D], h [B, H] -> scores [B, K^2]."""
    x = nn.Dense(self.hidden, name="slice")(slices) + nn.Dense(
        self.hidden, use_bias=False, name="state")(h)[:, None, :]
    return nn.Dense(1, name="out")(jnp.tanh(x))[..., 0]


class Core(nn.Module):
  layers: int = 3
  hidden: int = 512

  @nn.compact
  def __call__(self, carry, x):
    """carry: per layer (c, h), each [B, H]; x [B, D] -> (carry, top h [B, H])."""
    out = []
    for i in range(self.layers):
      state, x = nn.OptimizedLSTMCell(self.hidden, name=f"lstm{i}")(carry[i], x)
      out.append(state)
    return tuple(out), x


class Classifier(nn.Module):
  num_classes: int
  hidden: int = 512

  @nn.compact
  def __call__(self, h):
    return nn.Dense(self.num_classes, name="out")(jnp.tanh(nn.Dense(self.hidden, name="hidden")(h)))


class Baseline(nn.Module):
  @nn.compact
  def __call__(self, h):
    return nn.Dense(1, name="out")(h)[..., 0]


class Output(NamedTuple):
  logits: jax.Array  # [T, B, C] at every step
  weights: jax.Array  # [T, B, K^2] the weights l_{t,i} (alpha, the sampled reads, or 1/K^2)
  attention_probs: jax.Array  # [T, B, K^2] what the penalty sums over time (see the docstring)
  log_probs: jax.Array  # [T, B] log pi of the hard choice (0 for soft and mean)
  baselines: jax.Array  # [T, B] b_t (0 for soft and mean)
  reads: jax.Array  # [T, B] slices read at each step (every slice if the choice needs them)
  attended: jax.Array  # [T, B] slices with a nonzero weight in X'_t


def top_m_one_hot(scores: jax.Array, m: int) -> jax.Array:
  """The m highest of scores [..., n] in order, as one-hot rows [..., m, n] (ties: the lowest
  index first, as `lax.top_k`).

  Argmax passes rather than `lax.top_k` and an index scatter: they reduce along the slices
  alone, so a batch sharded over devices stays sharded. XLA partitions `top_k` and the scatter
  by gathering the whole batch to every device, at every time step (and on CPU with several
  devices, those gathers inside the scan deadlocked the thread pool that runs collectives:
  docs/throughput.md, "The worker that crashed in the video quicktest").
  """
  picks, masked = [], scores
  for _ in range(m):
    pick = jax.nn.one_hot(jnp.argmax(masked, -1), scores.shape[-1], dtype=scores.dtype)
    picks.append(pick)
    masked = jnp.where(pick > 0, -jnp.inf, masked)
  return jnp.stack(picks, -2)


def plackett_luce_log_prob_one_hot(scores: jax.Array, picks: jax.Array) -> jax.Array:
  """log P(the ordered draw without replacement `picks` [..., m, n] (one-hot rows) |
  softmax(scores [..., n])): [...]."""
  taken = jnp.zeros(scores.shape, bool)
  total = 0.0
  for j in range(picks.shape[-2]):
    # Before draw j, the slices drawn earlier are gone from the normaliser.
    rest = jnp.where(taken, -jnp.inf, scores)
    total += jnp.sum(picks[..., j, :] * scores, -1) - jax.nn.logsumexp(rest, -1)
    taken = taken | (picks[..., j, :] > 0)
  return total


def plackett_luce_log_prob(scores: jax.Array, order: jax.Array) -> jax.Array:
  """log P(the ordered draw `order` [m] without replacement | softmax(scores [n])): []."""
  return plackett_luce_log_prob_one_hot(scores, jax.nn.one_hot(order, scores.shape[-1]))


class VideoAttention:
  """The networks and the unroll; pure functions of {component: params}."""

  def __init__(self, model_config, num_classes: int, num_slices: int, multilabel: bool):
    m = model_config
    self.attention, self.glimpses, self.policy_input = m.attention, m.glimpses, m.policy_input
    self.dropout = m.dropout
    self.where = m.where
    self.motion = m.motion
    self.layers, self.hidden = m.lstm_layers, m.lstm_hidden
    self.num_slices, self.num_classes, self.multilabel = num_slices, num_classes, multilabel
    self.nets = {
        "core": Core(m.lstm_layers, m.lstm_hidden),
        "classify": Classifier(num_classes, m.classifier_hidden),
    }
    if self.attention != "mean":
      self.nets["scorer"] = (StateScorer(num_slices) if m.policy_input == "state"
                             else ContentScorer(m.scorer_hidden))
    if self.attention == "hard":
      self.nets["baseline"] = Baseline()

  @property
  def reads_every_slice(self) -> bool:
    return self.attention != "hard" or self.policy_input == "content"

  def init(self, key: jax.Array, clip_shape: tuple[int, ...]) -> dict:
    """{component: params} for clips of shape [T, K, K, D]."""
    _, k, _, d = clip_shape
    d = 2 * d if self.motion else d
    p = position_features(k, self.where).shape[1]
    h = jnp.zeros((1, self.hidden))
    carry = tuple((h, h) for _ in range(self.layers))
    args = {"core": (carry, jnp.zeros((1, d + p))), "classify": (h,),
            "scorer": (jnp.zeros((1, k * k, d + p)), h), "baseline": (h,)}
    keys = jax.random.split(key, len(self.nets))
    return {name: net.init(kk, *args[name])["params"]
            for (name, net), kk in zip(sorted(self.nets.items()), keys, strict=True)}

  def apply(self, params, name, *args):
    return self.nets[name].apply({"params": params[name]}, *args)

  def _choose(self, scores, key, deterministic):
    """(weights [B, n], attention probs [B, n], log pi [B], slices attended [B]) from scores
    [B, n]."""
    b, n = scores.shape
    if self.attention == "soft":
      alpha = jax.nn.softmax(scores, -1)
      return alpha, alpha, jnp.zeros(b), jnp.full((b,), float(n))
    if self.attention == "mean":
      w = jnp.full((b, n), 1.0 / n)
      return w, w, jnp.zeros(b), jnp.full((b,), float(n))
    if self.glimpses:  # Limited: m distinct slices, Plackett-Luce.
      m = self.glimpses
      probs = jax.nn.softmax(scores, -1)
      if deterministic:
        picks = top_m_one_hot(scores, m)
      else:
        gumbel = jax.vmap(lambda k: jax.random.gumbel(k, (n,)))(key)
        picks = top_m_one_hot(jax.lax.stop_gradient(scores) + gumbel, m)
      picks = jax.lax.stop_gradient(picks)  # [B, m, n]
      weights = picks.sum(1) / m
      log_prob = plackett_luce_log_prob_one_hot(scores, picks)
      return weights, probs, log_prob, jnp.full((b,), float(m))
    # Unlimited: one Bernoulli per slice.
    p = jax.nn.sigmoid(scores)
    if deterministic:
      read = (scores > 0).astype(jnp.float32)
    else:
      u = jax.vmap(lambda k: jax.random.uniform(k, (n,)))(key)
      read = (u < jax.lax.stop_gradient(p)).astype(jnp.float32)
    read = jax.lax.stop_gradient(read)
    count = read.sum(-1)
    weights = read / jnp.maximum(count, 1.0)[:, None]
    log_prob = jnp.sum(read * jax.nn.log_sigmoid(scores) + (1 - read) * jax.nn.log_sigmoid(
        -scores), -1)
    probs = p / jnp.maximum(p.sum(-1, keepdims=True), 1e-6)
    return weights, probs, log_prob, count

  def unroll(self, params: dict, clips: jax.Array, key: jax.Array, *,
             deterministic: bool = False, dropout_key: jax.Array | None = None) -> Output:
    """One pass over clips [B, T, K, K, D] (float).

    key: the policy's draws, one key for the batch or one per clip ([B]). dropout_key: None
    (evaluation: no dropout) or the key of the dropout masks (training).
    """
    if self.motion:
      clips = with_motion(clips)
    b, t, k, _, d = clips.shape
    n = k * k
    slices = clips.reshape(b, t, n, d).transpose(1, 0, 2, 3)  # [T, B, n, D]
    where = position_features(k, self.where)  # [n, P]
    keys = key if key.ndim else jax.random.split(key, b)
    step_keys = jax.vmap(lambda kk: jax.random.split(kk, t))(keys).transpose(1, 0)  # [T, B]
    if dropout_key is not None and self.dropout > 0:
      keep = 1.0 - self.dropout
      k_in, k_out = jax.random.split(dropout_key)
      mask_in = jax.random.bernoulli(k_in, keep, (t, b, d)) / keep
      mask_out = jax.random.bernoulli(k_out, keep, (t, b, self.hidden)) / keep
    else:
      mask_in = jnp.ones((t, b, d))
      mask_out = jnp.ones((t, b, self.hidden))
    zeros = jnp.zeros((b, self.hidden))
    carry0 = tuple((zeros, zeros) for _ in range(self.layers))

    def step(carry, xs):
      state, h_prev = carry
      x_t, key_t, m_in, m_out = xs
      if self.attention == "mean":
        scores = jnp.zeros((b, n))
      else:
        # A hard policy acts on the state: its REINFORCE term must not train the core through
        # it. Soft attention is one differentiable network (Sharma et al.): no cut.
        h_in = jax.lax.stop_gradient(h_prev) if self.attention == "hard" else h_prev
        located = jnp.concatenate([x_t, jnp.broadcast_to(where, (b, *where.shape))], -1)
        scores = self.apply(params, "scorer", located, h_in)
      weights, probs, log_prob, attended = self._choose(scores, key_t, deterministic)
      reads = jnp.full((b,), float(n)) if self.reads_every_slice else attended
      x_att = jnp.einsum("bn,bnd->bd", weights, x_t)  # X'_t
      # Where it attended: the weights pooled over the slices' position features.
      x_in = jnp.concatenate([x_att * m_in, weights @ where], -1)
      state, h = self.apply(params, "core", state, x_in)
      logits = self.apply(params, "classify", h * m_out)
      baseline = (self.apply(params, "baseline", jax.lax.stop_gradient(h_prev))
                  if self.attention == "hard" else jnp.zeros(b))
      return (state, h), (logits, weights, probs, log_prob, baseline, reads, attended)

    _, out = jax.lax.scan(step, (carry0, zeros), (slices, step_keys, mask_in, mask_out))
    return Output(*out)


def class_probs(logits: jax.Array, multilabel: bool) -> jax.Array:
  """Per-step class probabilities: softmax (one class) or sigmoid (label sets)."""
  return jax.nn.sigmoid(logits) if multilabel else jax.nn.softmax(logits, -1)


def clip_probs(out_logits: jax.Array, multilabel: bool) -> jax.Array:
  """[B, C]: a clip's scores, the mean over steps of the per-step probabilities."""
  return class_probs(out_logits, multilabel).mean(0)
