# Sourced by bench/sentiment_gpu.sh and bench/e2e_gpu.sh: make onnxruntime offer CUDA.
# Installs onnxruntime-gpu into $PULSE_GPU_SITE (beside, not over, the CPU build; from the
# wheels in $PULSE_WHEELS when that folder exists) unless CUDA is offered already, and puts
# it on PYTHONPATH. Exits 3 when CUDA is still not offered. Needs $PY.
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
