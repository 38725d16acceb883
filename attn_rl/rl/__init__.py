"""RL math as small pure functions on unbatched inputs (vmap them), rlax style."""
