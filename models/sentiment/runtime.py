"""ONNX Runtime sessions: providers by short name, and a check of the one that really started.

ONNX Runtime drops CUDA silently (to CPU) when the CUDA or cuDNN libraries do not
match its build; :func:`open_session` logs that and, when a GPU is required, fails
with a message that says what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from models.exceptions import InvalidParameterError
from models.sentiment.exceptions import InvalidModelError, ProviderUnavailableError

log = logging.getLogger(__name__)

_ALIASES = {
    "cuda": "CUDAExecutionProvider",
    "gpu": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
GPU_PROVIDERS = frozenset(
    {"CUDAExecutionProvider", "TensorrtExecutionProvider", "ROCMExecutionProvider"}
)


def provider_names(providers: str | Sequence[str]) -> list[str]:
    """ONNX Runtime names for ``"cuda,cpu"`` or ``("CUDA", "CPU")``.

    >>> provider_names("cuda, CPU")
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    items = providers.split(",") if isinstance(providers, str) else list(providers)
    names = [_ALIASES.get(p.strip().lower(), p.strip()) for p in items if p.strip()]
    if not names:
        raise InvalidParameterError("providers: name at least one, e.g. ('CUDA', 'CPU')")
    return names


def open_session(
    file: Path,
    providers: str | Sequence[str],
    require_gpu: bool,
    intra_op_threads: int,
    inter_op_threads: int,
    fold_dequantize: bool = False,
) -> ort.InferenceSession:
    """A session on the first usable provider, checked after it starts (see the module doc).

    ``fold_dequantize``: turn int8 weights (``DequantizeLinear`` of constants) into float
    once at load instead of on every run.
    """
    wanted = provider_names(providers)
    options = ort.SessionOptions()
    if fold_dequantize:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    available = set(ort.get_available_providers())
    usable = [p for p in wanted if p in available]
    if len(usable) < len(wanted):
        log.warning("onnxruntime here lacks %s", [p for p in wanted if p not in available])
    if require_gpu and not GPU_PROVIDERS & set(usable):
        raise ProviderUnavailableError(
            f"a GPU is required but this onnxruntime offers only {sorted(available)} for "
            f"{wanted}: install onnxruntime-gpu (extra 'gpu') with matching CUDA/cuDNN, "
            "or stop requiring a GPU"
        )
    usable = usable or ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(file), options, providers=usable)
    except Exception as exc:  # onnxruntime raises untyped errors for broken files and GPUs
        if require_gpu or not GPU_PROVIDERS & set(usable):
            raise _start_error(file, exc, require_gpu) from exc
        log.warning("onnxruntime could not start %s (%s): trying the CPU", usable[0], exc)
        try:
            session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as cpu_exc:
            raise _start_error(file, cpu_exc, False) from cpu_exc
    active = session.get_providers()[0]
    if usable and active != usable[0]:
        log.warning(
            "asked for %s but onnxruntime started %s (CUDA libraries missing or mismatched?)",
            usable[0],
            active,
        )
    if require_gpu and active not in GPU_PROVIDERS:
        raise ProviderUnavailableError(
            f"a GPU is required but onnxruntime started {active}: check the CUDA/cuDNN "
            "libraries onnxruntime-gpu needs (its log says which failed), or stop requiring a GPU"
        )
    return session


def _start_error(file: Path, exc: Exception, require_gpu: bool) -> Exception:
    if require_gpu:
        return ProviderUnavailableError(
            f"a GPU is required but onnxruntime failed to start on it ({exc}): fix the "
            "CUDA/cuDNN libraries onnxruntime-gpu needs, or stop requiring a GPU"
        )
    return InvalidModelError(f"{file} is not a loadable ONNX model: {exc}")
