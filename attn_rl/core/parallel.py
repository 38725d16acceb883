"""Device mesh, shardings and global batch assembly: one code path from a laptop to a pod.

Parameters and optimizer states are replicated (`P()`), batches are sharded on their
leading axis over the mesh's 'data' axis, and steps are compiled with `jax.jit` and explicit
shardings; XLA inserts the gradient all-reduce. On several hosts every process feeds its own
slice of the global batch and `jax.make_array_from_process_local_data` assembles the global
array.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


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
  """A 1-D mesh over `mesh.data` devices (-1: all devices)."""
  devices = jax.devices()
  n = len(devices) if mesh_config.data == -1 else mesh_config.data
  if not 1 <= n <= len(devices):
    raise ValueError(
        f"mesh.data={mesh_config.data} but {len(devices)} devices exist; use -1 for all of them."
    )
  if n != len(devices) and jax.process_count() > 1:
    raise ValueError("On several hosts the mesh must span every device: set mesh.data=-1.")
  return jax.sharding.Mesh(
      np.asarray(devices[:n]), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,)
  )


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA_AXIS))


def check_divisible(batch_size: int, mesh, what: str) -> None:
  """A clear error, before anything compiles, when a batch does not divide over devices."""
  n = mesh.shape[DATA_AXIS]
  if batch_size % n:
    lo, hi = batch_size // n * n, -(-batch_size // n) * n
    raise ValueError(
        f"{what}={batch_size} does not divide over the {n} devices of the mesh: use a multiple "
        f"of {n} (e.g. {lo or hi} or {hi}), or shrink the mesh with --config.mesh.data."
    )


def global_batch(local: dict, mesh) -> dict:
  """Assembles the global batch from this process's slice (sharded on the leading axis)."""
  sharding = batch_sharded(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local
  )
