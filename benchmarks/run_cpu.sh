#!/bin/bash
# Every CPU benchmark JSON in this folder, in one go (about 25 minutes on 2 cores). Files with
# a _xeon suffix are these commands run on the Intel Xeon machine with that suffix in --out.
# Run on an otherwise idle machine: the figures are absolute images/s.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m attn_rl.tools.bench --batch_sizes=128,512 --repeats=7 --out=benchmarks/ram_throughput_cpu.json
python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
  --batch_sizes=32,64,128,256,512,1024 --out=benchmarks/ram_batch_size_cpu.json
python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
  --batch_sizes=128 --profile_steps=30 --out=benchmarks/ram_profile_cpu.json
python -m attn_rl.tools.bench --tasks=clutter60_8x12x3,clutter100_8x12x4 --canvas_sizes=60,100,200 \
  --batch_sizes=128 --sensors=table,patch --out=benchmarks/ram_image_size_cpu.json
XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m attn_rl.tools.bench \
  --tasks=clutter60_8x12x3 --batch_sizes=128 --device_counts=1,2,4,8 \
  --out=benchmarks/ram_scaling_cpu8.json
# One core against two (the batch-128 step is close to single-threaded on XLA's CPU backend).
taskset -c 0 python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
  --batch_sizes=128,512 --repeats=5 --out=benchmarks/ram_one_core_cpu.json
python -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
  --batch_sizes=128,512 --repeats=5 --out=benchmarks/ram_two_core_cpu.json
# Rolled against unrolled glimpse loop (model.unroll; unrolled is the default since 2026-11-30,
# so the commands above time the unrolled step unless --unrolls says otherwise).
python -m attn_rl.tools.bench --batch_sizes=128,512 --unrolls=false,true --repeats=7 \
  --out=benchmarks/ram_unroll_cpu.json
