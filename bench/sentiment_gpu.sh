#!/usr/bin/env bash
# The accurate tier's GPU benchmark in one go: install onnxruntime-gpu (beside, not over, the
# CPU build), prove a session starts on CUDA with the fp16 file, print the figures.
#
#   bash bench/sentiment_gpu.sh [--model DIR] [--texts-file F] [--json PATH] ...
#
# Needs: an NVIDIA GPU and driver, onnx (to rebuild the fp16 file from the committed int8 file
# when it is missing: python -m models.sentiment.derive).
# Without network, put the onnxruntime-gpu wheel (and any missing dependency) in .whl/ or
# $PULSE_WHEELS first. Arguments go to bench/sentiment_gpu.py (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
source bench/gpu_env.sh
model=models/artifacts/sentiment-accurate-en
for ((i = 1; i <= $#; i++)); do if [ "${!i}" = --model ]; then j=$((i + 1)); model=${!j}; fi; done
if [ ! -f "$model/model.fp16.onnx" ]; then
  "$PY" -m models.sentiment.derive "$model"  # the fp16 GPU file from the committed int8 file
fi
export PYTHONUNBUFFERED=1
exec "$PY" bench/sentiment_gpu.py "$@"
