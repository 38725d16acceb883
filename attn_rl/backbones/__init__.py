"""Backbones: ResNets with SE, CBAM or SRM attention on every residual branch."""
