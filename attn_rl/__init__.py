"""attn_rl: visual attention learned by reinforcement learning, in JAX/Flax."""

__version__ = "0.1.0"
