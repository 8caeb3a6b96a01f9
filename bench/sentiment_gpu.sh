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
SITE=${PULSE_GPU_SITE:-/tmp/pulse-gpu-site}
WHEELS=${PULSE_WHEELS:-.whl}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
has_cuda() {
  "$PY" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())"
}
if ! has_cuda 2>/dev/null; then
  from=()
  if [ -d "$WHEELS" ]; then from=(--no-index --find-links "$WHEELS"); fi
  echo "installing onnxruntime-gpu into $SITE ${from[*]}"
  "$PY" -m pip install -q --no-deps --upgrade --target "$SITE" "${from[@]}" "onnxruntime-gpu>=1.20,<2"
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
has_cuda || { echo "onnxruntime here offers no CUDAExecutionProvider"; exit 3; }
model=models/artifacts/sentiment-accurate-en
for ((i = 1; i <= $#; i++)); do if [ "${!i}" = --model ]; then j=$((i + 1)); model=${!j}; fi; done
if [ ! -f "$model/model.fp16.onnx" ]; then
  "$PY" -m models.sentiment.derive "$model"  # the fp16 GPU file from the committed int8 file
fi
export PYTHONUNBUFFERED=1
exec "$PY" bench/sentiment_gpu.py "$@"
