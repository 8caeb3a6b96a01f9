#!/usr/bin/env bash
# bench/e2e.py on a GPU machine, in one go: the accurate sentiment tier on CUDA against the same
# tier on the CPU, reviews only, then the mixed stream with everything on (issue 9's GPU run).
#
#   bash bench/e2e_gpu.sh [--review-events 5000] [--json-dir DIR]
#
# Installs onnxruntime-gpu beside the CPU build as bench/sentiment_gpu.sh does (same
# PULSE_GPU_SITE / PULSE_WHEELS), builds the fp16 model file when missing, then runs:
#   1. reviews only, accurate tier, CPU  (the baseline of "GPU >= 10x CPU, same model")
#   2. reviews only, accurate tier, CUDA
#   3. every phase, accurate tier, CUDA
# Each run prints its table; --json-dir keeps the figures (cpu.json, gpu-reviews.json, gpu.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REVIEWS=5000
OUT=${TMPDIR:-/tmp}/pulse-e2e-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --review-events) REVIEWS=$2; shift 2 ;;
    --json-dir) OUT=$2; shift 2 ;;
    *) echo "unknown argument $1"; exit 2 ;;
  esac
done
mkdir -p "$OUT"
source bench/gpu_env.sh
model=models/artifacts/sentiment-accurate-en
[ -f "$model/model.fp16.onnx" ] || "$PY" -m models.sentiment.derive "$model"
export PYTHONUNBUFFERED=1
tier=(--env PULSE_SENTIMENT_MODEL=models/artifacts/sentiment-accurate)
reviews_only=(--skip-clicks-sales --skip-mixed --skip-latency --review-events "$REVIEWS")
"$PY" bench/e2e.py "${reviews_only[@]}" "${tier[@]}" --env PULSE_SENTIMENT_PROVIDERS=cpu \
  --json "$OUT/cpu.json"
"$PY" bench/e2e.py "${reviews_only[@]}" "${tier[@]}" --env PULSE_SENTIMENT_PROVIDERS=cuda \
  --json "$OUT/gpu-reviews.json"
"$PY" bench/e2e.py "${tier[@]}" --env PULSE_SENTIMENT_PROVIDERS=cuda --json "$OUT/gpu.json"
