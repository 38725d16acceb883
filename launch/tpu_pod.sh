#!/usr/bin/env bash
# Create a Cloud TPU VM slice, install attn_rl on every worker, and train on all of them.
# Usage: TPU_NAME=... ZONE=... ACCELERATOR_TYPE=v5litepod-32 RUNTIME_VERSION=v2-alpha-tpuv5-lite \
#        REPO=https://github.com/<you>/attn_rl.git TFDS_DATA_DIR=/mnt/tfds \
#        bash launch/tpu_pod.sh configs/ram_clutter.py gs://<bucket>/runs/ram_clutter
# Not executed in this project's CI or on its machines (no TPU access); see launch/README.md.
set -euo pipefail
CONFIG=${1:?config file}
WORKDIR=${2:?workdir: gs://bucket/path (or a path every worker shares)}
: "${TPU_NAME:?}" "${ZONE:?}" "${ACCELERATOR_TYPE:?}" "${RUNTIME_VERSION:?}" "${REPO:?}"
: "${TFDS_DATA_DIR:?path to prepared tfds data, readable on every worker}"

ssh_all() {
  gcloud compute tpus tpu-vm ssh "${TPU_NAME}" --zone="${ZONE}" --worker=all --command="$1"
}

if ! gcloud compute tpus tpu-vm describe "${TPU_NAME}" --zone="${ZONE}" >/dev/null 2>&1; then
  gcloud compute tpus tpu-vm create "${TPU_NAME}" --zone="${ZONE}" \
    --accelerator-type="${ACCELERATOR_TYPE}" --version="${RUNTIME_VERSION}"
fi

ssh_all "set -e; [ -d attn_rl ] || git clone ${REPO} attn_rl; cd attn_rl && git pull --ff-only; \
  python3 -m venv ~/venv && . ~/venv/bin/activate && pip install -q -U pip && \
  pip install -q 'jax[tpu]<0.11' && pip install -q -e '.[gcs]'"

# Every worker runs the same command at the same time; process 0 logs.
ssh_all "cd attn_rl && . ~/venv/bin/activate && \
  ATTN_RL_DISTRIBUTED=1 TFDS_DATA_DIR=${TFDS_DATA_DIR} \
  python -m attn_rl.main --config=${CONFIG} --workdir=${WORKDIR}"
