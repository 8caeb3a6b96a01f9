"""Held-out accuracy of the sentiment tiers, with SnowNLP and VADER as baselines.

    .venv/bin/python bench/sentiment_accuracy.py [--model DIR_OR_FILE ...] [--no-baselines]

Reads ``../shared/data/heldout/`` (never used for training, tuning or thresholds) and
prints one table: accuracy and balanced accuracy per set for each ``--model`` (default:
the fast tier; a model is scored on the languages its card lists; label by the sign of
its score), SnowNLP's own sentiment on the Chinese set (positive when
``SnowNLP(text).sentiments >= 0.5``) and VADER (PyPI ``vaderSentiment``) on the English
sets (positive when ``compound >= 0``). Targets (fast / best tier): waimai_10k balanced
accuracy >= 0.85 / 0.88, SST-2 test and the UCI sentences >= 0.80 / 0.88. Exits 0 with
a message when the data is absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

from models.sentiment import card as cards  # noqa: E402
from models.sentiment import data, evaluate  # noqa: E402
from models.sentiment.data import Example  # noqa: E402
from models.sentiment.engine import DEFAULT_MODEL_DIR, SentimentEngine  # noqa: E402

#: Fast tier / best tier (issue 3).
TARGETS = {"chn_waimai_10k": (0.85, 0.88), "en_sst2_test": (0.80, 0.88)}
TARGETS["en_uci (all three)"] = (0.80, 0.88)
Scorer = Callable[[Sequence[str]], Sequence[float]]


def snownlp_scorer() -> Scorer | None:
    try:
        from snownlp import SnowNLP
    except ImportError:
        return None
    return lambda texts: [SnowNLP(t).sentiments - 0.5 for t in texts]


def vader_scorer() -> Scorer | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()
    return lambda texts: [analyzer.polarity_scores(t)["compound"] for t in texts]


def measure(scorer: Scorer, examples: list[Example]) -> tuple[dict[str, dict[str, float]], float]:
    """Per-set results, plus the UCI sets pooled, and texts per second."""
    start = time.perf_counter()
    result = evaluate.report(examples, scorer)
    seconds = time.perf_counter() - start
    uci = [e for e in examples if e.source.startswith("en_uci_")]
    if uci:
        pooled = [Example(e.text, e.label, "en_uci (all three)") for e in uci]
        result |= evaluate.report(pooled, scorer)
    return result, len(examples) / seconds


def _scorer(engine: SentimentEngine) -> Scorer:
    return lambda texts: [p.score for p in engine.predict(texts)]


def _lang(e: Example) -> str:
    return "zh" if e.source.startswith("chn_") else "en"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--model",
        type=Path,
        action="append",
        help="model folder; repeat to compare (default: fast)",
    )
    p.add_argument("--data-dir", type=Path, default=data.DEFAULT_DATA_DIR)
    p.add_argument("--no-baselines", action="store_true", help="only the models")
    args = p.parse_args(argv)
    reason = data.missing(args.data_dir, data.HELDOUT_SOURCES)
    if reason:
        print(f"skipped: {reason}")
        return 0
    examples = data.load(args.data_dir, data.HELDOUT_SOURCES)
    zh = [e for e in examples if e.source.startswith("chn_")]
    en = [e for e in examples if e.source.startswith("en_")]
    columns = {}
    for model in args.model or [DEFAULT_MODEL_DIR]:
        engine = SentimentEngine.load(model, providers=("CPU",))
        languages = (cards.read(engine.path.parent) or {}).get("languages") or ["zh", "en"]
        subset = [e for e in examples if _lang(e) in languages]
        columns[engine.version] = measure(_scorer(engine), subset)
    if not args.no_baselines:
        for name, scorer, subset in (
            ("SnowNLP 0.12.3", snownlp_scorer(), zh),
            ("VADER 3.3.2", vader_scorer(), en),
        ):
            if scorer is None:
                print(f"{name} baseline skipped: package not installed")
            else:
                columns[name] = measure(scorer, subset)
    print_table(columns)
    return 0


def print_table(columns: dict[str, tuple[dict[str, dict[str, float]], float]]) -> None:
    names = list(columns)
    sets = list(dict.fromkeys(s for result, _ in columns.values() for s in result))
    print("balanced accuracy (accuracy) per held-out set; a score >= 0 counts as positive\n")
    print("| set | n | target | " + " | ".join(names) + " |")
    print("|---|---:|---:|" + "---:|" * len(names))
    for s in sets:
        n = next(r[s]["n"] for r, _ in columns.values() if s in r)
        cells = []
        for name in names:
            r = columns[name][0].get(s)
            cells.append(f"{r['balanced_accuracy']:.4f} ({r['accuracy']:.4f})" if r else "n/a")
        target = ">= {:.2f} / {:.2f}".format(*TARGETS[s]) if s in TARGETS else ""
        print(f"| {s} | {n:,} | {target} | " + " | ".join(cells) + " |")
    print("| texts/s (one core) | | | " + " | ".join(f"{columns[n][1]:,.0f}" for n in names) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
