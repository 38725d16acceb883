"""REINFORCE, baseline and reward functions: hand-computed values and the estimator's mean."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from attn_rl.rl import distributions, supervised
from attn_rl.rl import policy_gradient as losses


class LossValuesTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_reinforce_value_and_stopped_advantage(self):
    log_prob = jnp.array([-1.0, -2.0, -0.5])
    baseline = jnp.array([0.25, 0.5, 1.0])
    fn = self.variant(losses.reinforce_loss)
    # -sum_t (R - b_t) log p_t with R = 1: -[(0.75)(-1) + (0.5)(-2) + 0 * (-0.5)] = 1.75.
    np.testing.assert_allclose(fn(log_prob, jnp.array(1.0), baseline), 1.75)
    g_base = jax.grad(losses.reinforce_loss, argnums=2)(log_prob, jnp.array(1.0), baseline)
    np.testing.assert_array_equal(g_base, 0.0)
    g_logp = jax.grad(losses.reinforce_loss)(log_prob, jnp.array(1.0), baseline)
    np.testing.assert_allclose(g_logp, [-0.75, -0.5, 0.0])

  @chex.variants(with_jit=True, without_jit=True)
  def test_baseline_loss_value_and_gradient(self):
    b = jnp.array([0.0, 1.0])
    fn = self.variant(losses.baseline_loss)
    # ((0 - 1)^2 + (1 - 1)^2) / 2 = 0.5; d/db = (b - R) = [-1, 0].
    np.testing.assert_allclose(fn(b, jnp.array(1.0)), 0.5)
    np.testing.assert_allclose(jax.grad(losses.baseline_loss)(b, jnp.array(1.0)), [-1.0, 0.0])
    np.testing.assert_array_equal(jax.grad(losses.baseline_loss, argnums=1)(b, jnp.array(1.0)), 0)

  def test_correct_reward(self):
    assert supervised.correct_reward(jnp.array([0.1, 3.0, 0.2]), jnp.array(1)) == 1.0
    assert supervised.correct_reward(jnp.array([0.1, 3.0, 0.2]), jnp.array(2)) == 0.0

  def test_gaussian_log_prob_matches_formula(self):
    x, m, s = np.array([0.3, -0.2]), np.array([0.1, 0.1]), 0.2
    expected = np.sum(-0.5 * ((x - m) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi)))
    np.testing.assert_allclose(distributions.gaussian_log_prob(x, m, s), expected, rtol=1e-6)


def test_reinforce_estimator_matches_analytic_gradient():
  """For l ~ N(mu, s^2 I) and R(l) = -|l - c|^2, dE[R]/dmu = -2 (mu - c)."""
  mu, c, std, n = jnp.array([0.3, -0.4]), jnp.array([-0.2, 0.5]), 0.5, 400_000
  eps = jax.random.normal(jax.random.key(0), (n, 2))

  def surrogate(mu):
    samples = jax.lax.stop_gradient(mu + std * eps)
    reward = -jnp.sum((samples - c) ** 2, -1)
    log_prob = distributions.gaussian_log_prob(samples, mu, std)
    per_example = jax.vmap(losses.reinforce_loss)(log_prob[:, None], reward, jnp.zeros((n, 1)))
    return per_example.mean()

  estimate = -jax.grad(surrogate)(mu)
  analytic = -2 * (mu - c)
  # Standard error of the estimate is about 0.01 here; 5 standard errors of slack.
  np.testing.assert_allclose(estimate, analytic, atol=0.05)
  # A biased estimator (say a sign error or a missing 1/std^2) would be far off.
  assert np.abs(np.asarray(estimate - analytic)).max() < 0.05 < np.abs(np.asarray(analytic)).min()
