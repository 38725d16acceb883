"""The shared core: the method record and registry, the training loop, state, optimizers,
configs, checkpoints, devices, metrics, provenance and evaluators. It names no method."""
