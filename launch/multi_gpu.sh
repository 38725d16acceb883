#!/usr/bin/env bash
# Train on every GPU of one host: one process, a mesh over all local devices.
# Usage: bash launch/multi_gpu.sh configs/ram_clutter.py runs/ram_clutter_gpu [--config.x=y ...]
set -euo pipefail
CONFIG=${1:?config file}
WORKDIR=${2:?workdir}
shift 2
: "${TFDS_DATA_DIR:?set TFDS_DATA_DIR to the prepared tfds data}"
python -c "import jax; print(jax.device_count(), 'devices:', jax.devices())"
exec python -m attn_rl.main --config="${CONFIG}" --workdir="${WORKDIR}" "$@"
