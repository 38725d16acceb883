"""Jittable step functions, one module per method."""
