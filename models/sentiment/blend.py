"""Choose an ensemble's weights on the dev split and write its folder: ``python -m models.sentiment.blend``.

    python -m models.sentiment.blend OUT_DIR MEMBER_DIR MEMBER_DIR --language zh

Scores every member on the dev split of ``--language`` (the split
:mod:`models.sentiment.finetune` and the fast tier share, so no member trained on
it), tries weights for the first member from 0 to 1 in steps of ``--step``, and keeps
the best dev score (:func:`models.sentiment.evaluate.by_language`). If a lone member
wins, it says so and writes nothing. Otherwise it writes the ensemble card
(:mod:`models.sentiment.ensemble`) and scores ``heldout/`` of that language once,
with the chosen weights.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.sentiment import card as cards
from models.sentiment import data, evaluate
from models.sentiment.engine import SentimentEngine

log = logging.getLogger(__name__)


def dev_split(language: str, data_dir: Path) -> list[data.Example]:
    from models.sentiment.train import split

    everything = data.dedup(data.load(data_dir, data.TRAIN_SOURCES))
    _, dev = split(everything, 0.05, 13)
    names = {s.name for s in data.TRAIN_SOURCES if s.language == language}
    return [e for e in dev if e.source in names]


def probabilities(engine: SentimentEngine, rows: Sequence[data.Example]) -> np.ndarray:
    texts = [e.text for e in rows]
    return np.concatenate(
        [engine.probabilities(texts[i : i + 256]) for i in range(0, len(texts), 256)]
    )


def report(rows: Sequence[data.Example], probs: np.ndarray) -> dict[str, Any]:
    """Accuracy per source of precomputed probabilities (negative, positive)."""
    lookup = dict(zip((e.text for e in rows), (probs[:, -1] - probs[:, 0]).tolist(), strict=True))
    return evaluate.report(rows, lambda ts: [lookup[t] for t in ts])


def choose(
    rows: Sequence[data.Example], a: np.ndarray, b: np.ndarray, step: float, language: str
) -> tuple[float, list[dict[str, Any]]]:
    """The weight of ``a`` with the best dev score, and every weight tried."""
    tried = []
    for w in np.round(np.arange(0.0, 1.0 + step / 2, step), 4).tolist():
        result = report(rows, w * a + (1 - w) * b)
        score = evaluate.by_language(result, {s: language for s in result})
        tried.append({"weight": w, "score": round(score, 4)})
    best = max(tried, key=lambda t: t["score"])
    return float(best["weight"]), tried


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m models.sentiment.blend")
    p.add_argument("out", type=Path)
    p.add_argument("members", type=Path, nargs=2)
    p.add_argument("--language", default="zh")
    p.add_argument("--step", type=float, default=0.05)
    p.add_argument("--data-dir", type=Path, default=data.DEFAULT_DATA_DIR)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    rows = dev_split(args.language, args.data_dir)
    engines = [
        SentimentEngine.load(m, providers="cpu", intra_op_threads=args.threads)
        for m in args.members
    ]
    a, b = (probabilities(e, rows) for e in engines)
    weight, tried = choose(rows, a, b, args.step, args.language)
    log.info("dev: %s", tried)
    if weight in (0.0, 1.0):
        log.info("a lone member wins on dev (weight %.2f): no ensemble written", weight)
        return 0
    rel = [os.path.relpath(m.resolve(), args.out.resolve()) for m in args.members]
    card = {
        "kind": "ensemble",
        "name": args.out.name,
        "version": f"{args.out.name}-1+" + "+".join(e.version.rsplit("+", 1)[-1] for e in engines),
        "languages": [args.language],
        "members": rel,
        "weights": [weight, round(1 - weight, 4)],
        "dev": {
            "weights_tried": tried,
            "members": [report(rows, a), report(rows, b)],
            "chosen": report(rows, weight * a + (1 - weight) * b),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / cards.CARD).write_text(_json(card))
    engine = SentimentEngine.load(args.out, providers="cpu", intra_op_threads=args.threads)
    held = [
        e
        for s in data.HELDOUT_SOURCES
        if s.language == args.language
        for e in s.read(args.data_dir)
    ]
    card["heldout"] = evaluate.report(held, lambda ts: [p.score for p in engine.predict(ts)])
    card["heldout_note"] = "heldout/ read once, after the weights were chosen on dev"
    (args.out / cards.CARD).write_text(_json(card))
    log.info("held-out %s", card["heldout"])
    return 0


def _json(card: dict[str, Any]) -> str:
    import json

    return json.dumps(card, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
