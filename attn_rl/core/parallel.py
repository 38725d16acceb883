"""Device mesh, shardings and global batch assembly: one code path from a laptop to a pod.

The mesh has two axes, 'seeds' and 'data'. Parameters and optimizer states are replicated
(`P()`), batches are sharded on their leading axis over 'data', and steps are compiled with
`jax.jit` and explicit shardings; XLA inserts the gradient all-reduce. A run of several seeds
(`train.num_seeds`) stacks their states on a leading seed axis, laid over 'seeds'
(`P('seeds')`), and their batches as [seeds, batch, ...] (`P('seeds', 'data')`): a pod trains
seeds x data in one program. On several hosts every process feeds its own slice of the global
batch and `jax.make_array_from_process_local_data` assembles the global array.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"
SEEDS_AXIS = "seeds"


def maybe_initialize_distributed() -> None:
  """Starts jax.distributed on multi-host launches.

  Triggered by ATTN_RL_DISTRIBUTED=1 (set by launch/tpu_pod.sh: on Cloud TPU VMs JAX finds
  the coordinator itself), by JAX_COORDINATOR_ADDRESS (with JAX_NUM_PROCESSES and
  JAX_PROCESS_ID), or by a SLURM job with several tasks. See launch/README.md.
  """
  requested = os.environ.get("ATTN_RL_DISTRIBUTED") == "1"
  explicit = "JAX_COORDINATOR_ADDRESS" in os.environ
  slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1
  if requested or explicit or slurm:
    jax.distributed.initialize()


def make_mesh(mesh_config) -> jax.sharding.Mesh:
  """A ('seeds', 'data') mesh of `mesh.seeds` (default 1) x `mesh.data` devices; `mesh.data`
  -1 takes every device the seeds axis leaves."""
  devices = jax.devices()
  seeds = mesh_config.get("seeds", 1)
  if not (isinstance(seeds, int) and 1 <= seeds <= len(devices)
          and len(devices) % seeds == 0):
    raise ValueError(f"mesh.seeds={seeds!r} must be a positive divisor of the {len(devices)} "
                     "devices.")
  n = len(devices) // seeds if mesh_config.data == -1 else mesh_config.data
  if not 1 <= n * seeds <= len(devices):
    raise ValueError(
        f"mesh.data={mesh_config.data} x mesh.seeds={seeds} but {len(devices)} devices exist; "
        "use mesh.data=-1 for all of them."
    )
  if n * seeds != len(devices) and jax.process_count() > 1:
    raise ValueError("On several hosts the mesh must span every device: set mesh.data=-1.")
  return jax.sharding.Mesh(
      np.asarray(devices[:n * seeds]).reshape(seeds, n), (SEEDS_AXIS, DATA_AXIS),
      axis_types=(jax.sharding.AxisType.Auto,) * 2,
  )


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def seed_stacked(mesh) -> NamedSharding:
  """Leading seed axis over 'seeds' (states, keys, metrics of a multi-seed run)."""
  return NamedSharding(mesh, P(SEEDS_AXIS))


def seed_batch_sharded(mesh) -> NamedSharding:
  """[seeds, batch, ...]: seeds over 'seeds', each seed's batch over 'data'."""
  return NamedSharding(mesh, P(SEEDS_AXIS, DATA_AXIS))


def check_seeds(num_seeds: int, mesh) -> None:
  n = mesh.shape[SEEDS_AXIS]
  if num_seeds % n:
    raise ValueError(f"train.num_seeds={num_seeds} does not divide over mesh.seeds={n}: use a "
                     f"multiple of {n}, or set --config.mesh.seeds to a divisor of {num_seeds}.")
  if n > 1 and jax.process_count() > 1:
    raise ValueError("mesh.seeds > 1 on several hosts is not supported yet: keep mesh.seeds=1 "
                     "(the seeds then share every device's data shard).")


def check_divisible(batch_size: int, mesh, what: str) -> None:
  """A clear error, before anything compiles, when a batch does not divide over devices."""
  n = mesh.shape[DATA_AXIS]
  if batch_size % n:
    lo, hi = batch_size // n * n, -(-batch_size // n) * n
    raise ValueError(
        f"{what}={batch_size} does not divide over the {n} devices of the mesh: use a multiple "
        f"of {n} (e.g. {lo or hi} or {hi}), or shrink the mesh with --config.mesh.data."
    )


def global_batch(local: dict, mesh, sharding: NamedSharding | None = None) -> dict:
  """Assembles the global batch from this process's slice (sharded on the leading axis;
  `seed_batch_sharded` for a multi-seed batch, whose second axis is the data one)."""
  sharding = sharding or batch_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local
  )
