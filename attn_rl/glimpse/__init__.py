"""Glimpse agents: the retina sensor, glimpse/core/policy networks, the one rollout, pictures."""
