#!/bin/bash
# Chen 2021's Table 2 on 100x100 cluttered MNIST, 3 seeds of every arm, one run per seed: the
# paper's 8-glimpse rows (its fully connected network and 10 pieces of clutter, `mlp,clutter10`:
# RAM, + top-down, full model) and the 6-glimpse ablation (the conv glimpse network: RAM,
# + top-down, + top-down + entropy, full model); then the runs' results/ folders
# (tools/report). The README's top-down table is written by hand.
#
#   TFDS_DATA_DIR=/path/to/tensorflow_datasets bash launch/topdown_clutter100_table.sh [RUNS_DIR] [BUDGET]
#
# BUDGET: 'full' (default; the config's own 40,000 steps at the paper's Adam 3e-4) or 'short'
# (6,000 steps, the `short` variant). Run names, as the runs already in results/ are named:
# topdown_clutter100_ARM_g8_mlp[_short]_sSEED (the 8-glimpse rows; at the short budget `_short`)
# and topdown_clutter100_ARM_g6[_40k]_sSEED (the 6-glimpse runs; at the full budget `_40k`).
# One seed per process: the top-down configs step several seeds as a loop (seeds_mode 'loop',
# docs/throughput.md), so seeds in one process take as long as one after another, while one per
# process lets two cores share them and keeps each run short enough to finish in one sitting.
# A finished run is skipped, in RUNS_DIR or collected in results/; an interrupted one resumes
# where it stopped (rerun the script).
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

one_run() {  # glimpses arm seed [cpu]
  local config=configs/topdown_clutter100.py
  if [ "$1" = 8 ]; then
    train "$runs/topdown_clutter100_$2_g8_mlp${g8}_s$3" "${4:-}" \
      --config="$config:$2,glimpses8,mlp,clutter10$extra" --config.seed="$3"
  else
    train "$runs/topdown_clutter100_${2/,/_}_g6${g6}_s$3" "${4:-}" \
      --config="$config:$2,glimpses6$extra" --config.seed="$3"
  fi
}

jobs_list=()
for seed in 0 1 2; do
  for arm in ram topdown full; do jobs_list+=("8 $arm $seed"); done
done
for seed in 0 1 2; do
  for arm in ram topdown topdown,entropy full; do jobs_list+=("6 $arm $seed"); done
done
run_queue "$runs/.topdown_table_queue" one_run "${jobs_list[@]}"
collect_found "$runs/topdown_clutter100_*_g8_mlp${g8}_s[0-9]" "$runs/topdown_clutter100_*_g6${g6}_s[0-9]"
