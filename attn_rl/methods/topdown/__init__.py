"""Top-down + bottom-up attention (Chen et al. 2021, "Where to look")."""
