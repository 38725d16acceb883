"""Adversarial robustness: PGD (L-inf, L2) with Expectation over Transformation, and SPSA.

Any method whose record has `make_logits` can be attacked (tools/robustness.py runs this on a
trained workdir). A classifier here is `logits_fn(x, key) -> [B, K]`: x float [B, ...] in the
pixel range [lo, hi], key one PRNG key for the batch (a stochastic model splits it itself; a
deterministic one ignores it).

PGD (Madry et al. 2018): from a uniform random point of the epsilon ball (`random_start`), each
step moves along the gradient of the loss (its sign for L-inf, its direction for L2) and
projects back onto the ball around the clean image and onto the pixel range. Restarts are the
caller's loop: an example counts as robust only if every restart fails.

EOT (Athalye, Carlini & Wagner 2018, Sec. 4): for a model that draws (the location policy's
noise), the loss at each attack step is the mean over `eot_samples` draws, each with its own
key, so the step follows the gradient of the expected loss rather than of one draw.

SPSA (Uesato et al. 2018): a gradient-free attack for when gradients may be masked (the
glimpse agents' locations are argmax and integer-pixel choices through which no gradient
flows). The gradient is estimated from `num_samples` Rademacher directions v as
  g = mean_v [(L(x + delta v) - L(x - delta v)) / (2 delta)] v
with both sides of a direction evaluated under the same key (common random numbers), and
followed by Adam (optax) on the perturbation, projected after every step.

Losses: 'ce' (cross-entropy, what every method's classifier trains with) or 'margin'
(max_{j != y} z_j - z_y, positive exactly when the prediction is wrong; Carlini & Wagner).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

LOSSES = ("ce", "margin")
NORMS = ("linf", "l2")

LogitsFn = Callable[[jax.Array, jax.Array], jax.Array]


def per_example_loss(logits: jax.Array, labels: jax.Array, loss: str = "ce") -> jax.Array:
  """[B, K], [B] -> [B]: the loss the attacker raises."""
  if loss == "ce":
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  if loss == "margin":
    true = jnp.take_along_axis(logits, labels[:, None], axis=1)[:, 0]
    others = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits)
    return jnp.max(others, axis=-1) - true
  raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")


def _per_example_norm(x: jax.Array) -> jax.Array:
  """[B, ...] -> [B, 1, ...]: each example's L2 norm, broadcastable against x."""
  norm = jnp.sqrt(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1))
  return norm.reshape((-1,) + (1,) * (x.ndim - 1))


def project(x_adv: jax.Array, x: jax.Array, eps: float, norm: str = "linf", lo: float = 0.0,
            hi: float = 1.0) -> jax.Array:
  """The nearest point to x_adv in the eps-ball around x (per example) within [lo, hi].

  Clipping to the pixel range after the ball keeps the point in the ball, since x lies in the
  range: each coordinate of the perturbation only shrinks.
  """
  delta = x_adv - x
  if norm == "linf":
    delta = jnp.clip(delta, -eps, eps)
  elif norm == "l2":
    delta = delta * jnp.minimum(1.0, eps / jnp.maximum(_per_example_norm(delta), 1e-12))
  else:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
  return jnp.clip(x + delta, lo, hi)


def random_point(key: jax.Array, x: jax.Array, eps: float, norm: str = "linf", lo: float = 0.0,
                 hi: float = 1.0) -> jax.Array:
  """A random point of the ball around x (L-inf: uniform per pixel; L2: uniform in the ball)."""
  if norm == "linf":
    delta = jax.random.uniform(key, x.shape, minval=-eps, maxval=eps)
  elif norm == "l2":
    direction_key, radius_key = jax.random.split(key)
    direction = jax.random.normal(direction_key, x.shape)
    direction = direction / jnp.maximum(_per_example_norm(direction), 1e-12)
    dim = x[0].size
    radius = eps * jax.random.uniform(radius_key, (x.shape[0],)) ** (1.0 / dim)
    delta = direction * radius.reshape((-1,) + (1,) * (x.ndim - 1))
  else:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")
  return project(x + delta, x, eps, norm, lo, hi)


def expected_loss(logits_fn: LogitsFn, x: jax.Array, labels: jax.Array, key: jax.Array,
                  eot_samples: int = 1, loss: str = "ce") -> jax.Array:
  """[B]: the loss averaged over `eot_samples` draws of the model, each with its own key."""
  keys = jax.random.split(key, eot_samples)
  losses = jax.vmap(lambda k: per_example_loss(logits_fn(x, k), labels, loss))(keys)
  return losses.mean(0)


def pgd(logits_fn: LogitsFn, x: jax.Array, labels: jax.Array, key: jax.Array, *, eps: float,
        step_size: float, num_steps: int, norm: str = "linf", loss: str = "ce",
        eot_samples: int = 1, random_start: bool = True, lo: float = 0.0,
        hi: float = 1.0) -> jax.Array:
  """Projected gradient ascent on the (expected) loss: x_adv [B, ...] in the ball and the range.

  Each step draws its EOT keys from fold_in(key, step); the random start has its own key.
  """
  start_key, steps_key = jax.random.split(key)
  x_adv = random_point(start_key, x, eps, norm, lo, hi) if random_start else x

  def grad_of(z, step):
    return jax.grad(lambda z: expected_loss(
        logits_fn, z, labels, jax.random.fold_in(steps_key, step), eot_samples, loss).sum())(z)

  def step(t, x_adv):
    g = grad_of(x_adv, t)
    if norm == "linf":
      move = step_size * jnp.sign(g)
    else:
      move = step_size * g / jnp.maximum(_per_example_norm(g), 1e-12)
    return project(x_adv + move, x, eps, norm, lo, hi)

  return jax.lax.fori_loop(0, num_steps, step, x_adv)


def spsa(logits_fn: LogitsFn, x: jax.Array, labels: jax.Array, key: jax.Array, *, eps: float,
         num_steps: int, num_samples: int = 128, delta: float = 0.01,
         learning_rate: float = 0.01, norm: str = "linf", loss: str = "margin",
         lo: float = 0.0, hi: float = 1.0) -> jax.Array:
  """Gradient-free ascent (module docstring): x_adv [B, ...] in the ball and the range."""
  tx = optax.adam(learning_rate)

  def step(t, carry):
    x_adv, opt_state = carry
    direction_key, model_key = jax.random.split(jax.random.fold_in(key, t))
    v = jax.random.rademacher(direction_key, (num_samples, *x.shape), dtype=x.dtype)
    model_keys = jax.random.split(model_key, num_samples)

    def difference(v_n, k_n):
      # The same key on both sides: the model's own noise cancels in the difference.
      up = per_example_loss(logits_fn(x_adv + delta * v_n, k_n), labels, loss)
      down = per_example_loss(logits_fn(x_adv - delta * v_n, k_n), labels, loss)
      return (up - down) / (2.0 * delta)

    diffs = jax.vmap(difference)(v, model_keys)  # [N, B]
    g = jnp.mean(diffs.reshape(diffs.shape + (1,) * (x.ndim - 1)) * v, axis=0)
    # optax minimises: step along -g to raise the loss.
    updates, opt_state = tx.update(-g, opt_state, x_adv)
    return project(x_adv + updates, x, eps, norm, lo, hi), opt_state

  x_adv, _ = jax.lax.fori_loop(0, num_steps, step, (x, tx.init(x)))
  return x_adv


def correct(logits_fn: LogitsFn, x: jax.Array, labels: jax.Array, key: jax.Array,
            num_rollouts: int = 1) -> jax.Array:
  """[B] bool: the class-probability average over `num_rollouts` draws is right."""
  keys = jax.random.split(key, num_rollouts)
  probs = jax.vmap(lambda k: jax.nn.softmax(logits_fn(x, k)))(keys).mean(0)
  return jnp.argmax(probs, -1) == labels


def uniform_noise(key: jax.Array, x: jax.Array, eps: float, lo: float = 0.0,
                  hi: float = 1.0) -> jax.Array:
  """The control: x plus uniform noise in [-eps, eps] per pixel, clipped to the range."""
  return jnp.clip(x + jax.random.uniform(key, x.shape, minval=-eps, maxval=eps), lo, hi)


def non_increasing(values: Sequence[float], tolerance: float = 0.0) -> bool:
  """Whether each value is at most the one before plus `tolerance`."""
  return all(b <= a + tolerance for a, b in zip(values, values[1:], strict=False))
