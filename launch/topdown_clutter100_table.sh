#!/bin/bash
# Chen 2021's Table 2 on 100x100 cluttered MNIST, 3 seeds of every arm: the paper's 8-glimpse
# rows (its fully connected network and 10 pieces of clutter, `mlp,clutter10`: RAM, + top-down,
# full model; 3 seeds in one process per arm) and the 6-glimpse ablation (the conv glimpse
# network: RAM, + top-down, + top-down + entropy, full model; one run per seed); then the
# runs' results/ folders (tools/report). The README's top-down table is written by hand.
#
#   TFDS_DATA_DIR=/path/to/tensorflow_datasets bash launch/topdown_clutter100_table.sh [RUNS_DIR] [BUDGET]
#
# BUDGET: 'full' (default; the config's own 40,000 steps at the paper's Adam 3e-4: on one core
# of the 2-vCPU CPU about 3 h (RAM) to 6.5 h (top-down, full) per 8-glimpse arm, 2 h or more
# per 6-glimpse run) or 'short' (6,000 steps, the `short` variant). Run names: topdown_clutter100_ARM_g8_mlp[_short]
# and topdown_clutter100_ARM_g6[_40k]_sSEED, as the runs already in results/ are named: the
# 8-glimpse rows at the short budget end in `_short`, the 6-glimpse runs at the full one in
# `_40k`.
# A finished run is skipped; an interrupted one resumes where it stopped (rerun the script).
# PARALLEL=2 runs two at a time, each pinned to one core (taskset); logs go to RUNS_DIR/*.log.
# The queue: launch/queue.sh.
set -euo pipefail
runs=${1:-runs}
budget=${2:-full}
case "$budget" in
  full) extra="" g8="" g6=_40k ;;
  short) extra=,short g8=_short g6="" ;;
  *) echo "BUDGET must be 'full' or 'short', not '$budget'" >&2; exit 2 ;;
esac

source "$(dirname "$0")/queue.sh"

one_run() {  # glimpses arm seed|all [cpu]
  local config=configs/topdown_clutter100.py
  if [ "$1" = 8 ]; then
    train "$runs/topdown_clutter100_$2_g8_mlp$g8" "${4:-}" \
      --config="$config:$2,glimpses8,mlp,clutter10$extra" --config.train.num_seeds=3
  else
    train "$runs/topdown_clutter100_${2/,/_}_g6${g6}_s$3" "${4:-}" \
      --config="$config:$2,glimpses6$extra" --config.seed="$3"
  fi
}

jobs_list=()
for arm in ram topdown full; do jobs_list+=("8 $arm all"); done
for seed in 0 1 2; do
  for arm in ram topdown topdown,entropy full; do jobs_list+=("6 $arm $seed"); done
done
run_queue "$runs/.topdown_table_queue" one_run "${jobs_list[@]}"
collect=$(ls -d "$runs"/topdown_clutter100_*_g8_mlp$g8 "$runs"/topdown_clutter100_*_g6${g6}_s[0-9] \
  | paste -sd, -)
python -m attn_rl.tools.report --collect="$collect"
