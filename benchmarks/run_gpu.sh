#!/bin/bash
# The accelerator's numbers in one call of the device tool (about 6 minutes on one H200):
#   RAM step images/s for the three tasks at batch 128 to 8192, seeds 1 to 64 in one process,
#   DREAL's critics overhead, and configs/ram_mnist.py trained to its test error, timed.
# Writes JSON (and the run's results.json) into $OUT (default /tmp/attn_rl_gpu).
#
# On the device machine (python3 there has jax with CUDA, flax, optax, orbax, chex, etils,
# h5py; see the device tool's KINDS.md), carry what it lacks, prepared here once:
#   .whl/    wheels for Python 3.12 of ml_collections, grain, tensorflow-datasets, array-record
#            and their missing needs (the device README's `pip download` line)
#   .mnist/  a copy of ../shared/data/tensorflow_datasets (MNIST, 26 MB), for the timed run
# both listed in .git/info/exclude; then run: carry [".whl", ".mnist"],
# command "bash benchmarks/run_gpu.sh", timeout_s 540.
#
# Check on CPU with tiny sizes (seconds per part; no dataset needed):
#   QUICK=1 OUT=/tmp/gpu_check bash benchmarks/run_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/attn_rl_gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$OUT/devices.txt"

if [ "${QUICK:-0}" = 1 ]; then
  BATCHES=16,32; SEEDS=1,2; STEPS=2; REPEATS=2; QUICKTEST=--quicktest; DREAL_BATCH=16
else
  BATCHES=128,512,2048,8192; SEEDS=1,4,16,64; STEPS=20; REPEATS=5; QUICKTEST=; DREAL_BATCH=128
fi

# 1. RAM step throughput against batch size (the PyTorch port's three setups).
$PY -m attn_rl.tools.bench --tasks=mnist28_6x8x1,translated60_6x12x3,clutter100_8x12x4 \
  --batch_sizes=$BATCHES --steps=$STEPS --repeats=$REPEATS --out="$OUT/ram_batch_size_gpu.json"
# 2. Seeds in one process (batch 128 each): aggregate images/s against the number of seeds.
$PY -m attn_rl.tools.bench_seeds --tasks=clutter60,clutter100,dreal_se --num_seeds=$SEEDS \
  --separate=false --steps=$STEPS --repeats=$REPEATS $QUICKTEST --out="$OUT/seeds_gpu.json"
# 3. DREAL: the step with critics against the vanilla step.
$PY -m attn_rl.tools.bench_dreal --kinds=se,cbam,srm --batch_size=$DREAL_BATCH \
  --steps=$STEPS --repeats=$REPEATS --out="$OUT/dreal_overhead_gpu.json"
# 4. Time to accuracy: configs/ram_mnist.py from scratch to its test error (compile included).
if [ "${QUICK:-0}" = 1 ]; then
  RUN=(--config=configs/ram_mnist.py:quicktest --config.data.source=synthetic)
elif [ -d .mnist ]; then
  export TFDS_DATA_DIR="$PWD/.mnist"
  RUN=(--config=configs/ram_mnist.py)
else
  echo "No .mnist/ folder: the timed MNIST run is skipped (see the header)." | tee "$OUT/ram_mnist_gpu.txt"
  exit 0
fi
rm -rf /tmp/ram_mnist_gpu
start=$(date +%s.%N)
$PY -m attn_rl.main "${RUN[@]}" --workdir=/tmp/ram_mnist_gpu 2>&1 | grep -v " step [0-9]" \
  | tail -5
end=$(date +%s.%N)
cp /tmp/ram_mnist_gpu/results.json "$OUT/ram_mnist_gpu_results.json"
$PY - "$start" "$end" "$OUT" <<'EOF'
import json, sys
start, end, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
r = json.load(open(f"{out}/ram_mnist_gpu_results.json"))
summary = {"command": r["command"], "devices": r["devices"], "date": r["date"],
           "git_commit": r["git_commit"], "process_seconds": end - start,
           "train_seconds": r["train_seconds"], "test_error": r["test"]["error"],
           "selected_step": r["selected_step"], "goal": "test error 1.12% in under 120 s"}
json.dump(summary, open(f"{out}/ram_mnist_time_to_accuracy_gpu.json", "w"), indent=1)
print(json.dumps(summary))
EOF
