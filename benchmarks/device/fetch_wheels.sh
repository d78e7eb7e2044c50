#!/usr/bin/env bash
# Run HERE (not on the device), from the repo root: downloads, into .whl/ (git-ignored), the
# x86-64 CPython 3.12 wheels the device image lacks, and copies the benchmark data into data/
# (git-ignored; ./data is a data root the suite searches). Then call the device tool's `run`
# with carry [".whl", "data"] and the command `bash benchmarks/device/gpu_check.sh`.
set -euo pipefail
PY=${PY:-.venv/bin/python}
mkdir -p .whl
"$PY" benchmarks/device/missing_wheels.py > .whl/requirements.txt
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
while read -r pin; do
  # A binary wheel for the device's CPython 3.12 where one exists; else the sdist (pure-Python
  # packages such as rouge-score publish no wheel) built into a wheel here.
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${PLATFORMS[@]}" -d .whl "$pin" 2>/dev/null \
    || "$PY" -m pip wheel -q --no-deps -w .whl "$pin"
done < .whl/requirements.txt
DATA=${GEMMA_BENCHMARK_DATA_DIR:-../shared/data}
mkdir -p data && cp -r "$DATA/mmlu" data/
du -sh .whl data
