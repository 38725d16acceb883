#!/bin/bash
# Issue 5's accuracy table: SE, CBAM and SRM, each vanilla and with critics, 3 seeds, on 60x60
# cluttered MNIST at configs/dreal_clutter.py's budget (9,000 steps); then the Fig. 2 and
# Q-vs-reward analysis of each seed-0 pair and the README tables.
#
#   TFDS_DATA_DIR=/path/to/tensorflow_datasets bash launch/dreal_clutter_table.sh [RUNS_DIR]
#
# 18 runs of 0.45-1.0 s per step on the 2-core CPU (about 1-2.5 h each): meant for a GPU. A
# finished run is skipped; an interrupted one resumes where it stopped (rerun the script).
set -euo pipefail
runs=${1:-runs}
for attention in se cbam srm; do
  for seed in 0 1 2; do
    for arm in vanilla critics; do
      variant=$attention$([ "$arm" = vanilla ] && echo ",vanilla" || true)
      name=dreal_clutter_${attention}_${arm}_s$seed
      if [ -f "$runs/$name/results.json" ] && grep -q '"finished": true' "$runs/$name/results.json"; then
        continue
      fi
      python -m attn_rl.main --config="configs/dreal_clutter.py:$variant" --config.seed=$seed \
        --workdir="$runs/$name"
    done
  done
  python -m attn_rl.analyze_dreal --vanilla="$runs/dreal_clutter_${attention}_vanilla_s0" \
    --reinforced="$runs/dreal_clutter_${attention}_critics_s0" \
    --out="results/dreal_analysis/$attention"
done
collect=$(ls -d "$runs"/dreal_clutter_*_s[0-9] | paste -sd, -)
python -m attn_rl.report --collect="$collect"
