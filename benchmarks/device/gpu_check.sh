#!/usr/bin/env bash
# Run ON THE DEVICE (the device tool's `run`, carry [".whl", "data"]), after fetch_wheels.sh here.
# Installs the carried wheels beside the image's CUDA torch, then runs the efficiency check
# (Gemma-2-2B shape, eager vs compiled), MMLU speed vs lm-eval (20 questions per subject),
# then the 9B shape. Each step has its own time limit, so one slow step cannot starve the others.
# Logs and JSON land in $OUT. About 9 minutes; give it timeout_s 580.
set -uo pipefail
OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export GEMMA_BENCHMARK_DATA_DIR=$PWD/data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)"
run() { local name=$1 limit=$2; shift 2
  timeout "$limit" python3 "$@" 2>&1 | grep -v Warning | tee "$OUT/$name.log"; }
run efficiency_2b 240 benchmarks/efficiency_gpu.py --models 2b --json "$OUT/efficiency_2b.json"
run mmlu 150 benchmarks/mmlu_gpu.py --limit 20
run efficiency_9b 120 benchmarks/efficiency_gpu.py --models 9b --json "$OUT/efficiency_9b.json"
