"""A function of one seed's arguments applied to several seeds' stacked arguments.

`train.num_seeds` runs keep every seed's state, batch and keys stacked on a leading axis; the
loop compiles `over_seeds(step, n, mode=train.seeds_mode)` once. Two ways, same results up
to float rounding:
  'vmap'  `jax.vmap`: one program whose matmuls carry a seed axis (few large kernels: the
          accelerator's way).
  'loop'  n copies of the one-seed program side by side in one jitted program, each on its
          seed's slice: XLA's CPU runtime runs independent ops concurrently, so seeds fill
          cores that one seed's small matmuls leave idle, and each seed computes exactly
          the ops it computes alone.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

MODES = ("vmap", "loop")


def over_seeds(f: Callable, num_seeds: int, *, in_axes=0, mode: str = "vmap") -> Callable:
  """f over a leading seed axis. in_axes: 0 (every argument stacked) or a tuple of 0 / None
  per argument (None: shared by every seed, e.g. an evaluation batch). One seed: f itself."""
  if mode not in MODES:
    raise ValueError(f"train.seeds_mode={mode!r} is not one of {', '.join(map(repr, MODES))}.")
  if num_seeds == 1:
    return f
  if mode == "vmap":
    return jax.vmap(f, in_axes=in_axes)

  def looped(*args):
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    take = lambda a, axis, k: a if axis is None else jax.tree.map(lambda x: x[k], a)
    outs = [f(*(take(a, axis, k) for a, axis in zip(args, axes, strict=True)))
            for k in range(num_seeds)]
    # By leaves under the first seed's structure: an initialiser makes new optimizer objects
    # (static metadata) on every call.
    leaves = zip(*(jax.tree.leaves(o) for o in outs), strict=True)
    return jax.tree.unflatten(jax.tree.structure(outs[0]), [jnp.stack(x) for x in leaves])

  return looped
