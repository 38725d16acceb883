"""Config building blocks that every method composes, the one variant parser, and checks.

A method's defaults (`attn_rl/methods/<name>/config.py`) are `base(name)` plus its data, model,
RL and optimiser groups, then `add_run_groups`; nothing here names a method. Config files in
`configs/` start from a method's defaults and set what their experiment needs.

Everything here is light (ml_collections only): config files import it without paying for
JAX, Flax or Pillow.
"""

from __future__ import annotations

import ml_collections


def base(method: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  # Registry key of the method (attn_rl/core/method.py).
  c.method = method
  # Base seed: parameters, random draws and training data order derive from it.
  c.seed = 0
  return c


def optimizer(*, name: str = "adam", learning_rate: float = 1e-3, schedule: str = "cosine",
              warmup_steps: int = 200, grad_clip_norm: float = 5.0) -> ml_collections.ConfigDict:
  """An optimiser group (`core/optim.py` reads it); each component gets its own instance."""
  o = ml_collections.ConfigDict()
  # 'adam', 'amsgrad' or 'sgd'; each component gets its own optimizer instance.
  o.name = name
  # Peak learning rate.
  o.learning_rate = learning_rate
  # 'constant', 'cosine' (with warmup), 'exponential' or 'piecewise'.
  o.schedule = schedule
  # Linear warmup steps ('cosine' only).
  o.warmup_steps = warmup_steps
  # Learning rate at the last step as a fraction of the peak.
  o.final_lr_fraction = 0.01
  # SGD momentum ('sgd' only).
  o.momentum = 0.9
  # Global-norm gradient clipping per component (0 disables).
  o.grad_clip_norm = grad_clip_norm
  return o


def add_run_groups(c: ml_collections.ConfigDict, *, eval_rollouts: int | None = None
                   ) -> ml_collections.ConfigDict:
  """Adds `train`, `eval`, `log`, `ckpt` and `mesh`: how long, how often, where.

  eval_rollouts: rollouts averaged per evaluation image (`eval.num_rollouts`) for stochastic
  models; None for deterministic ones (no such key).
  """
  c.train = ml_collections.ConfigDict()
  # Global batch size.
  c.train.batch_size = 128
  # Training steps.
  c.train.num_steps = 10000
  # Independent runs trained together, seeds `seed` .. `seed + num_seeds - 1`: one process, one
  # compiled step vmapped over a leading seed axis, one folder `seed_<k>/` per seed (a complete
  # single-seed workdir). 1: the workdir itself is the run's.
  c.train.num_seeds = 1
  # How the seeds' step is compiled: 'vmap' (one batched program) or 'loop' (the one-seed
  # program once per seed, side by side in one program); core/seeds.py.
  c.train.seeds_mode = "vmap"

  c.eval = ml_collections.ConfigDict()
  # Validate every this many steps (and at the end).
  c.eval.every_steps = 1000
  # Global evaluation batch size.
  c.eval.batch_size = 500
  if eval_rollouts is not None:
    # Rollouts per evaluation image; class probabilities are averaged over them.
    c.eval.num_rollouts = eval_rollouts
  # Pictures of validation images written at each evaluation.
  c.eval.num_pictures = 4

  c.log = ml_collections.ConfigDict()
  # Log training metrics every this many steps.
  c.log.every_steps = 100

  c.ckpt = ml_collections.ConfigDict()
  # Save a checkpoint every this many steps (and on exit).
  c.ckpt.every_steps = 1000
  # Latest checkpoints kept.
  c.ckpt.max_to_keep = 2

  c.mesh = ml_collections.ConfigDict()
  # Devices on the 'data' axis; -1 uses all (that the 'seeds' axis leaves).
  c.mesh.data = -1
  # Devices on the 'seeds' axis (a divisor of train.num_seeds): seeds x data in one program.
  c.mesh.seeds = 1
  return c


def apply_quicktest(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config to a few seconds of CPU: tiny data, few steps, frequent everything."""
  c.data.limit_train = 512
  c.data.limit_eval = 64
  c.train.batch_size = 16
  c.train.num_steps = 6
  c.optim.warmup_steps = 1
  c.eval.every_steps = 3
  c.eval.batch_size = 32
  if "num_rollouts" in c.eval:
    c.eval.num_rollouts = 2
  c.eval.num_pictures = 1
  c.log.every_steps = 2
  c.ckpt.every_steps = 2
  return c


def parse_variants(arg: str | None, known: tuple[str, ...],
                   exclusive: tuple[tuple[str, ...], ...] = ()) -> set[str]:
  """Comma-separated variant tokens ('cbam,vanilla,quicktest') -> a set, for every config file.

  exclusive: groups of tokens of which at most one may be given (e.g. the attention module).
  """
  tokens = {t for t in (arg or "").split(",") if t}
  unknown = sorted(tokens - set(known))
  if unknown:
    raise ValueError(f"Unknown config variant {', '.join(map(repr, unknown))}; known variants: "
                     f"{', '.join(known)} (combine them with commas).")
  for group in exclusive:
    named = [t for t in group if t in tokens]
    if len(named) > 1:
      raise ValueError(f"Config variants {' and '.join(map(repr, named))} exclude each other: "
                       f"pick one of {', '.join(group)}.")
  return tokens


def one_of(value, allowed, key: str) -> None:
  if value not in allowed:
    raise ValueError(f"{key}={value!r} is not one of {', '.join(map(repr, allowed))}.")


def get(c: ml_collections.ConfigDict, key: str):
  """The value at a dotted key ('optim.critic.learning_rate')."""
  for part in key.split("."):
    c = c[part]
  return c


def positive(c: ml_collections.ConfigDict, *keys: str) -> None:
  """Each dotted key ('train.batch_size') must hold a positive number."""
  for key in keys:
    value = get(c, key)
    if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
      raise ValueError(f"{key}={value!r} must be a positive number.")


SCHEDULES = ("constant", "cosine", "exponential", "piecewise")


def validate_optimizer(c: ml_collections.ConfigDict, key: str = "optim") -> None:
  """An `optimizer()` group: names, a positive rate, non-negative clipping and warm-up."""
  o = get(c, key)
  one_of(o.name, ("adam", "amsgrad", "sgd"), f"{key}.name")
  one_of(o.schedule, SCHEDULES, f"{key}.schedule")
  positive(c, f"{key}.learning_rate", f"{key}.final_lr_fraction")
  for name in ("grad_clip_norm", "warmup_steps"):
    if not (isinstance(o[name], int | float) and o[name] >= 0):
      raise ValueError(f"{key}.{name}={o[name]!r} must be >= 0.")
  if o.schedule == "piecewise" and not o.get("decay_every_steps"):
    raise ValueError(f"{key}.schedule='piecewise' needs {key}.decay_every_steps > 0.")


def validate_run_groups(c: ml_collections.ConfigDict) -> None:
  """The checks every method shares: sizes and cadences are positive."""
  positive(c, "train.batch_size", "train.num_steps", "eval.batch_size", "eval.every_steps",
           "log.every_steps", "ckpt.every_steps", "ckpt.max_to_keep")
  if "num_seeds" in c.train:
    n = c.train.num_seeds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
      raise ValueError(f"train.num_seeds={n!r} must be a positive integer.")
    one_of(c.train.get("seeds_mode", "vmap"), ("vmap", "loop"), "train.seeds_mode")
  if "num_rollouts" in c.eval:
    positive(c, "eval.num_rollouts")
