"""Train the fast sentiment tier and export it: ``python -m models.sentiment.train`` (needs torch).

Steps: read the training sets (never ``heldout/``), deduplicate across sources by
normalised text, carve a stratified dev split (per source and label), train a
fastText-style bag of hashed n-grams (mean of embeddings -> linear) with the dev
split choosing the epoch, export ONNX fp32 and int8 (:mod:`models.sentiment.export`),
then measure the held-out sets once and write the model card.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card, data, evaluate, export
from models.sentiment.features import PROBE_TEXTS, Features, Featurizer, fingerprint

log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "artifacts" / "sentiment-fast"
LABELS = ("negative", "positive")


def split(
    examples: list[data.Example], dev_fraction: float, seed: int
) -> tuple[list[data.Example], list[data.Example]]:
    """Stratified by (source, label), reproducible for a seed; sources may set their fraction."""
    groups: dict[tuple[str, int], list[data.Example]] = defaultdict(list)
    for e in examples:
        groups[(e.source, e.label)].append(e)
    fractions = {s.name: s.dev_fraction for s in data.TRAIN_SOURCES}
    train, dev = [], []
    rng = random.Random(seed)
    for key in sorted(groups):
        rows = groups[key]
        rng.shuffle(rows)
        fraction = fractions.get(key[0])
        cut = round(len(rows) * (dev_fraction if fraction is None else fraction))
        dev += rows[:cut]
        train += rows[cut:]
    rng.shuffle(train)
    return train, dev


def weights(examples: Sequence[data.Example], languages: dict[str, str]) -> np.ndarray:
    """Per-example loss weights: each language's two classes weigh the same in total."""
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for e in examples:
        counts[(languages[e.source], e.label)] += 1
    out = [len(examples) / (len(counts) * counts[(languages[e.source], e.label)]) for e in examples]
    return np.asarray(out, dtype=np.float32)


def featurize(featurizer: Featurizer, texts: Sequence[str], chunk: int = 4096) -> Features:
    parts = [featurizer.batch(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    ids = np.concatenate([p.ids for p in parts])
    lengths = np.concatenate([p.lengths for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Features(ids, offsets)


def rows(features: Features, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat ids and bag offsets of ``index`` (for ``torch.nn.EmbeddingBag``)."""
    starts, lengths = features.offsets[index], features.lengths[index]
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    take = np.repeat(starts - ends + lengths, lengths) + np.arange(total)
    return features.ids[take], np.concatenate([[0], ends[:-1]]).astype(np.int64)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pulse model train", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=data.DEFAULT_DATA_DIR)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for models and card")
    p.add_argument("--buckets", type=int, default=1 << 20, help="hash buckets (rows of the table)")
    p.add_argument("--max-chars", type=int, default=512, help="characters kept per text")
    p.add_argument("--cjk", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"))
    p.add_argument("--subword", type=int, nargs=2, default=(0, 0), metavar=("MIN", "MAX"))
    p.add_argument("--dim", type=int, default=16, help="embedding size while training")
    p.add_argument("--epochs", type=int, default=3, help="most epochs; dev picks the best")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--l2", type=float, default=1e-5, help="penalty on used embedding rows")
    p.add_argument("--dropout", type=float, default=0.0, help="n-gram dropout while training")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fp32", action="store_true", help="also write model.onnx (fp32, ~8 MB)")
    p.add_argument("--skip-heldout", action="store_true", help="leave held-out accuracy out")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Train, export and write the card; returns a process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    reason = data.missing(args.data_dir, data.TRAIN_SOURCES)
    if reason:
        log.error("cannot train: %s", reason)
        return 2
    try:
        from models.sentiment import fit  # torch is imported only here
    except ImportError as exc:
        log.error("cannot train: %s; install the train extra: pip install -e '.[train]'", exc)
        return 2

    t0 = time.perf_counter()
    raw = data.load(args.data_dir, data.TRAIN_SOURCES)
    unique = data.dedup(raw)
    train, dev = split(unique, args.dev_fraction, args.seed)
    log.info(
        "%d examples, %d unique; train %d, dev %d", len(raw), len(unique), len(train), len(dev)
    )
    featurizer = Featurizer(
        args.buckets, args.max_chars, (args.subword[0], args.subword[1]), (args.cjk[0], args.cjk[1])
    )
    languages = {s.name: s.language for s in data.TRAIN_SOURCES}
    result = fit.train(
        featurize(featurizer, [e.text for e in train]),
        np.asarray([e.label for e in train]),
        weights(train, languages),
        dev,
        featurizer,
        fit.Hyper(
            args.dim,
            args.epochs,
            args.lr,
            args.batch,
            args.seed,
            args.threads,
            args.dropout,
            args.l2,
            args.optimizer,
        ),
        languages,
    )
    table, calibration = _calibrated(result.table, featurizer, dev)
    meta = _metadata(featurizer, table)
    paths = _export(table, meta, args.out, args.fp32, calibration["prior_count"])
    summary = _summary(args, raw, unique, train, dev, result, time.perf_counter() - t0)
    summary["calibration"] = calibration
    summary["dev_int8_onnx"] = _scored(paths["int8"], dev)
    heldout = None if args.skip_heldout else _heldout(paths["int8"], args.data_dir)
    card.write(args.out, card.build(meta, paths, summary, heldout))
    log.info("wrote %s", ", ".join(str(p) for p in (*paths.values(), args.out / "card.json")))
    return 0


def _calibrated(
    table: np.ndarray, featurizer: Featurizer, dev: Sequence[data.Example]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Temperature and prior count fitted on the dev split (no label changes)."""
    from models.sentiment import fit

    features = featurize(featurizer, [e.text for e in dev])
    labels = np.asarray([e.label for e in dev])
    t, prior = fit.calibrate(table, features, labels)
    before = _log_loss(fit.logits(table, features), labels)
    after = _log_loss(fit.logits(table / t, features, prior), labels)
    log.info("temperature %.3f, prior %.1f: dev log loss %.4f -> %.4f", t, prior, before, after)
    info = {"temperature": round(t, 4), "prior_count": prior}
    info |= {"dev_log_loss_before": before, "dev_log_loss_after": after}
    return (table / t).astype(np.float32), info


def _log_loss(values: np.ndarray, labels: np.ndarray) -> float:
    diff = values[:, 1] - values[:, 0]
    return round(float(np.logaddexp(0.0, -np.where(labels == 1, 1.0, -1.0) * diff).mean()), 4)


def _metadata(featurizer: Featurizer, table: np.ndarray) -> dict[str, Any]:
    spec = {**featurizer.to_dict(), "fingerprint": fingerprint(featurizer, PROBE_TEXTS)}
    q, _ = export.quantize(table)
    version = f"{card.NAME}-{card.SERIES}+{card.digest(q.tobytes())[:8]}"
    return {"name": card.NAME, "version": version, "labels": list(LABELS), "featurizer": spec}


def _export(
    table: np.ndarray, meta: dict[str, Any], out: Path, fp32: bool, prior: float
) -> dict[str, Path]:
    for stale in ("card.json", "card.md", "model.onnx"):  # a card never outlives its model
        (out / stale).unlink(missing_ok=True)
    paths = {"int8": export.save(table, meta, out / "model.int8.onnx", True, prior)}
    if fp32:
        paths["fp32"] = export.save(table, meta, out / "model.onnx", False, prior)
    return paths


def _summary(args, raw, unique, train, dev, result, seconds: float) -> dict[str, Any]:
    per_source = {
        s.name: {
            "language": s.language,
            "licence": s.licence,
            "rows": sum(e.source == s.name for e in raw),
            "unique_kept": sum(e.source == s.name for e in unique),
            "train": sum(e.source == s.name for e in train),
            "dev": sum(e.source == s.name for e in dev),
        }
        for s in data.TRAIN_SOURCES
    }
    return {
        "sources": per_source,
        "dedup": "first occurrence per NFKC/lower-case/no-whitespace text across sources, "
        "in the order listed; texts seen with both labels dropped",
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("data_dir", "out")},
        "best_epoch": result.epoch,
        "dev": result.dev,
        "training_seconds": round(seconds, 1),
    }


def _scored(model: Path, examples: Sequence[data.Example]) -> dict[str, Any]:
    """Accuracy of the exported model file, through the serving engine."""
    from models.sentiment.engine import SentimentEngine

    engine = SentimentEngine.load(model, providers=("CPU",))
    return evaluate.report(examples, lambda ts: [p.score for p in engine.predict(ts)])


def _heldout(model: Path, root: Path) -> dict[str, Any] | None:
    """Accuracy on heldout/: measured after export, never fed back into training."""
    if data.missing(root, data.HELDOUT_SOURCES):
        return None
    return _scored(model, data.load(root, data.HELDOUT_SOURCES))


if __name__ == "__main__":
    raise SystemExit(main())
