"""The non-attention baseline on digit sequences: Goodfellow et al. (2014)'s multi-digit CNN.

A conv stack (conv -> LayerNorm -> ReLU -> 2x2 max-pool with stride 2 or 1) and fully
connected ReLU layers feed a length head (0 .. max_digits digits, and "more") and one
10-way head per digit position. Training maximises log p(length) + sum over the true digits
of log p(digit_i); decoding picks n = argmax_n log p(length = n) + sum_{i < n} max_d log
p(digit_i = d) and the best digit at each of those positions (Goodfellow et al., Sec. 3).
Fixed-length tasks use the position heads alone: two 10-way heads for MNIST pairs, one 19-way
head (the sum) for MNIST addition. Departures: LayerNorm instead of
their (unnamed here) normalisation and maxout units (ReLU), so that steps are pure functions
of per-example inputs and equal on 1 or 8 devices.

The predictions are laid out as DRAM's (digits, then END), so the two share the scores
(`losses.sequence_sums`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from attn_rl.core import optim
from attn_rl.core import state as state_lib
from attn_rl.core.state import State
from attn_rl.data import sequences
from attn_rl.methods.dram import losses


class SequenceCNN(nn.Module):
  channels: tuple[int, ...]
  kernel: int
  strides: tuple[int, ...]
  dense: tuple[int, ...]
  dropout: float
  # Position heads (max_digits; 1 for addition) and the classes of each (10; addition 19).
  positions: int
  classes: int
  fixed: bool

  @nn.compact
  def __call__(self, images, *, train: bool = False):
    """images [B, H, W(, C)] -> (length logits [B, positions + 2] or None, position logits
    [B, positions, classes])."""
    x = images[..., None] if images.ndim == 3 else images
    x = x.astype(jnp.float32) / 255.0 if images.dtype == jnp.uint8 else x
    for i, (width, stride) in enumerate(zip(self.channels, self.strides, strict=True)):
      x = nn.Conv(width, (self.kernel, self.kernel), padding="SAME", name=f"conv{i}")(x)
      x = nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1, name=f"norm{i}")(x)
      x = nn.max_pool(nn.relu(x), (2, 2), strides=(stride, stride), padding="SAME")
    x = x.reshape(x.shape[0], -1)
    for i, units in enumerate(self.dense):
      x = nn.relu(nn.Dense(units, name=f"dense{i}")(x))
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    length = None if self.fixed else nn.Dense(self.positions + 2, name="length")(x)
    digits = nn.Dense(self.positions * self.classes, name="digits")(x)
    return length, digits.reshape(x.shape[0], self.positions, self.classes)


def make_model(config, num_classes: int) -> SequenceCNN:
  del num_classes  # The heads name digits (or sums), never END: a length head says where to stop.
  m, d = config.model, config.data
  fixed = sequences.fixed_length(d)
  positions = sequences.sequence_length(d) if fixed else d.max_digits
  return SequenceCNN(tuple(m.conv_channels), m.kernel_size, tuple(m.pool_strides),
                     tuple(m.dense), m.dropout, positions, sequences.label_classes(d), fixed)


def example_loss(length_logits, digit_logits, label, length):
  """-log p(length) - sum_{i < length} log p(digit_i) for one example (length_logits None:
  fixed length, digits only)."""
  positions, classes = digit_logits.shape
  # END (past the length, masked below) is clipped to a valid class index.
  ce = optax.softmax_cross_entropy_with_integer_labels(
      digit_logits, jnp.minimum(label[:positions], classes - 1))
  loss = jnp.sum(jnp.where(jnp.arange(positions) < length, ce, 0.0))
  if length_logits is not None:
    loss += optax.softmax_cross_entropy_with_integer_labels(length_logits, length)
  return loss


def decode(length_logits, digit_logits):
  """int32 [S] label sequence (digits, then END) of one example, Goodfellow's decoding."""
  best = jnp.argmax(digit_logits, -1).astype(jnp.int32)
  if length_logits is None:
    return best
  positions = digit_logits.shape[0]
  top = jnp.max(jax.nn.log_softmax(digit_logits, -1), -1)
  # Lengths 0 .. positions; the "more than max_digits" class is never decoded.
  score = (jax.nn.log_softmax(length_logits)[:positions + 1]
           + jnp.concatenate([jnp.zeros(1), jnp.cumsum(top)]))
  n = jnp.argmax(score)
  seq = jnp.concatenate([best, jnp.array([sequences.END], jnp.int32)])
  return jnp.where(jnp.arange(positions + 1) < n, seq, sequences.END)


def init_state(config, model: SequenceCNN, key, image_shape):
  params = model.init(key, jnp.zeros((1, *image_shape), jnp.uint8))["params"]
  tx = optim.make_optimizer(config.optim, config.train.num_steps)
  return state_lib.create({"network": ({"network": params}, tx)}, clock="network")


def make_train_step(config, model: SequenceCNN):
  """train_step(state, batch, key) -> (state, metrics); the key drives dropout only."""
  fixed = model.fixed

  def loss_fn(params, batch, key):
    length_logits, digit_logits = model.apply({"params": params["network"]}, batch["image"],
                                              train=True,
                                              rngs={"dropout": key})
    per = jax.vmap(example_loss, in_axes=(None if fixed else 0, 0, 0, 0))(
        length_logits, digit_logits, batch["label"], batch["length"])
    return per.mean(), (length_logits, digit_logits)

  def train_step(state: State, batch, key):
    key = jax.random.fold_in(key, state.step)
    (loss, (length_logits, digit_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.trainable["network"].params, batch, key)
    state = state.apply_gradients({"network": grads})
    pred = jax.vmap(decode, in_axes=(None if fixed else 0, 0))(length_logits, digit_logits)
    sums = losses.sequence_sums(pred, batch["label"], batch["length"], jnp.ones(len(pred)),
                                fixed)
    return state, {"loss/total": loss, "acc": sums["correct"] / len(pred),
                   "acc/digit": sums["correct_digit"] / jnp.maximum(sums["count_digit"], 1.0),
                   "grad_norm/network": optax.global_norm(grads)}

  return train_step


def make_eval_step(config, model: SequenceCNN):
  """eval_step(state, batch, key) -> masked sums (`losses.sequence_sums`); deterministic."""
  del config
  fixed = model.fixed

  def eval_step(state: State, batch, key):
    del key
    length_logits, digit_logits = model.apply({"params": state.params()["network"]},
                                              batch["image"])
    pred = jax.vmap(decode, in_axes=(None if fixed else 0, 0))(length_logits, digit_logits)
    sums = losses.sequence_sums(pred, batch["label"], batch["length"], batch["mask"], fixed)
    sums["count"] = jnp.sum(batch["mask"])
    return sums

  return eval_step


def make_predict(model: SequenceCNN):
  return lambda params, images, key: model.apply({"params": params["network"]}, images)
