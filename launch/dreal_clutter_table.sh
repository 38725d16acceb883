#!/bin/bash
# Issue 5's accuracy table: SE, CBAM and SRM, each vanilla and with critics, 3 seeds, on 60x60
# cluttered MNIST; then the Fig. 2 and Q-vs-reward analysis of each seed-0 pair and the README
# tables.
#
#   TFDS_DATA_DIR=/path/to/tensorflow_datasets bash launch/dreal_clutter_table.sh [RUNS_DIR] [BUDGET]
#
# BUDGET: 'short' (default; the config's `short` variant, a half-width network and 1,000 steps:
# the 18 runs take about 2 h on the 2-core CPU) or 'full' (the config's own 9,000 steps at full
# width, 0.45-1.0 s per step on the CPU: meant for a GPU). Run names end in _short or _full.
# A finished run is skipped, in RUNS_DIR or collected in results/; an interrupted one resumes
# where it stopped (rerun the script). PARALLEL=2 runs two at a time, each pinned to one core
# (taskset); logs go to RUNS_DIR/*.log.
# ARMS (default "vanilla critics") lists the arms; "qwW" is the paper's recipe with the actor
# term's weight W (dreal.q_weight; docs/dreal_investigation.md found 0.1 the best variant):
# ARMS="vanilla critics qw0.1". The queue: launch/queue.sh.
set -euo pipefail
runs=${1:-runs}
budget=${2:-short}
[[ $budget =~ ^(short|full)$ ]] || { echo "BUDGET must be 'short' or 'full', not '$budget'" >&2; exit 2; }
extra=$([ "$budget" = full ] || echo ",$budget")
suffix=_$budget
arms=${ARMS:-vanilla critics}
for arm in $arms; do
  [[ $arm =~ ^(vanilla|critics|qw[0-9.]+)$ ]] || {
    echo "ARMS: '$arm' is none of vanilla, critics, qwW (the actor weight W)" >&2; exit 2; }
done

source "$(dirname "$0")/queue.sh"

one_run() {  # attention arm seed [cpu]
  local variant=$1 more=()
  case $2 in
    vanilla) variant+=,vanilla ;;
    qw*) more=(--config.dreal.q_weight="${2#qw}") ;;
  esac
  train "$runs/dreal_clutter_$1_$2${suffix}_s$3" "${4:-}" \
    --config="configs/dreal_clutter.py:$variant$extra" --config.seed="$3" "${more[@]}"
}

jobs_list=()
for seed in 0 1 2; do
  for attention in se cbam srm; do
    for arm in $arms; do
      jobs_list+=("$attention $arm $seed")
    done
  done
done
run_queue "$runs/.dreal_table_queue" one_run "${jobs_list[@]}"
# The analysis needs both seed-0 workdirs' checkpoints; runs collected in an earlier sitting
# (skipped above) have none here, and neither has anything new to collect.
for attention in se cbam srm; do
  vanilla=$runs/dreal_clutter_${attention}_vanilla${suffix}_s0
  reinforced=$runs/dreal_clutter_${attention}_critics${suffix}_s0
  if [ ! -d "$vanilla" ] || [ ! -d "$reinforced" ]; then
    echo "no analysis of $attention: $vanilla or $reinforced was not trained here" >&2
    continue
  fi
  python -m attn_rl.tools.analyze_dreal --vanilla="$vanilla" --reinforced="$reinforced" \
    --out="results/dreal_analysis/$attention$suffix"
done
collect_found "$runs/dreal_clutter_*${suffix}_s[0-9]"
