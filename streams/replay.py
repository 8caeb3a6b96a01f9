"""Readers of public dataset formats, as ``(topic, event)`` pairs in file order. No Kafka here.

Event ids are deterministic (``<format>:<row>``), so replaying a file twice is
deduplicated by Pulse. Rows that cannot be read are skipped and counted in
:class:`ReplayStats`, never raised.

>>> import io
>>> rows = io.StringIO("user_id,item_id,category_id,behavior_type,timestamp\\n1,2,3,buy,1511658000\\n")
>>> [(t, e.event_id, e.product_id) for t, e in taobao(rows)]
[('sales', 'taobao:1', '2')]
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from streams.schemas import (
    MAX_TEXT_CHARS,
    ClickEvent,
    InputEvent,
    ProductEvent,
    ReviewEvent,
    SaleEvent,
)

Pair = tuple[str, InputEvent]
_TAOBAO_ACTIONS = {"pv": "view", "cart": "add_to_cart", "fav": "favorite"}


@dataclass
class ReplayStats:
    """Rows read and rows skipped, by reason."""

    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def movielens(lines: Iterable[str], stats: ReplayStats | None = None) -> Iterator[Pair]:
    """MovieLens ``u.data``: ``user item rating ts``, tab-separated -> rated reviews."""
    stats = stats or ReplayStats()
    for row, line in enumerate(lines, 1):
        stats.read += 1
        parts = line.split()
        if len(parts) != 4:
            stats.skipped["bad_row"] += 1
            continue
        user, item, rating, ts = parts
        yield from _make(
            stats,
            "reviews",
            ReviewEvent,
            event_id=f"movielens:{row}",
            ts=_num(ts),
            user_id=user,
            product_id=item,
            rating=rating,
            text="",
        )


def taobao(lines: Iterable[str], stats: ReplayStats | None = None) -> Iterator[Pair]:
    """Taobao UserBehavior: ``user,item,category,behavior,ts`` -> clicks and sales."""
    stats = stats or ReplayStats()
    for row, parts in enumerate(_data_rows(csv.reader(lines), "user_id"), 1):
        stats.read += 1
        if len(parts) != 5:
            stats.skipped["bad_row"] += 1
            continue
        user, item, category, behavior, ts = parts
        common = {
            "event_id": f"taobao:{row}",
            "ts": _num(ts),
            "user_id": user,
            "product_id": item,
            "category_id": category,
        }
        if behavior == "buy":
            yield from _make(stats, "sales", SaleEvent, quantity=1, **common)
        elif behavior in _TAOBAO_ACTIONS:
            yield from _make(
                stats, "clicks", ClickEvent, action=_TAOBAO_ACTIONS[behavior], **common
            )
        else:
            stats.skipped["unknown_behavior"] += 1


def retail(lines: Iterable[str], stats: ReplayStats | None = None) -> Iterator[Pair]:
    """UCI Online Retail invoice lines -> a product update on first sight, then sales.

    Cancellations (invoice ``C...``) and non-positive quantities are skipped.
    """
    stats, known = stats or ReplayStats(), set()
    for row, rec in enumerate(csv.DictReader(lines), 1):
        stats.read += 1
        try:
            qty, price = int(rec["Quantity"]), float(rec["UnitPrice"])
            ts = datetime.fromisoformat(rec["InvoiceDate"]).replace(tzinfo=UTC).timestamp()
        except (KeyError, ValueError, TypeError):
            stats.skipped["bad_row"] += 1
            continue
        if rec["InvoiceNo"].startswith("C") or qty < 1 or price < 0:
            stats.skipped["cancellation_or_return"] += 1
            continue
        code = rec["StockCode"]
        if code not in known:
            known.add(code)
            yield from _make(
                stats,
                "products",
                ProductEvent,
                event_id=f"retail:{row}:product",
                ts=ts,
                product_id=code,
                name=(rec["Description"] or None),
            )
        user = rec["CustomerID"].split(".")[0] or "anonymous"
        yield from _make(
            stats,
            "sales",
            SaleEvent,
            event_id=f"retail:{row}",
            ts=ts,
            user_id=user,
            product_id=code,
            quantity=qty,
            price=price,
            currency="GBP",
            order_id=rec["InvoiceNo"],
        )


def amazon_reviews(lines: Iterable[str], stats: ReplayStats | None = None) -> Iterator[Pair]:
    """Amazon-style review CSV (Blitzer multi-domain or McAuley 5-core columns) -> reviews."""
    stats = stats or ReplayStats()
    for row, rec in enumerate(csv.DictReader(lines), 1):
        stats.read += 1
        text = rec.get("review_text", rec.get("reviewText")) or ""
        stars = rec.get("rating", rec.get("overall")) or ""
        user = rec.get("reviewer", rec.get("reviewerID")) or "anonymous"
        ts = _review_time(rec, row)
        rating = int(float(stars)) if stars.replace(".", "", 1).isdigit() else None
        yield from _make(
            stats,
            "reviews",
            ReviewEvent,
            event_id=f"reviews:{row}",
            ts=ts,
            user_id=user[:128],
            product_id=rec.get("asin") or "unknown",
            text=text[:MAX_TEXT_CHARS],
            rating=rating,
        )


def _review_time(rec: dict[str, str], row: int) -> float:
    if (unix := rec.get("unixReviewTime")) and unix.isdigit():
        return float(unix)
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%m %d, %Y"):
        try:
            return (
                datetime.strptime(rec.get("date", "").strip(), fmt).replace(tzinfo=UTC).timestamp()
            )
        except ValueError:
            continue
    return 1_000_000_000.0 + row  # undated rows keep their file order


def _num(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # left for validation to reject


def _data_rows(rows: Iterable[list[str]], header_first: str) -> Iterator[list[str]]:
    for i, parts in enumerate(rows):
        if i == 0 and parts and parts[0] == header_first:
            continue
        yield parts


def _make(
    stats: ReplayStats, topic: str, model: type[InputEvent], **fields: object
) -> Iterator[Pair]:
    try:
        yield topic, model.model_validate(fields)
    except ValidationError:
        stats.skipped["invalid"] += 1


READERS: dict[str, Callable[..., Iterator[Pair]]] = {
    "movielens": movielens,
    "taobao": taobao,
    "retail": retail,
    "reviews": amazon_reviews,
}


def detect_format(path: Path) -> str:
    """Guess a dataset's format from its name and first line."""
    with _open(path) as f:
        first = f.readline()
    if first.startswith("user_id,item_id") or path.name.startswith("UserBehavior"):
        return "taobao"
    if first.startswith("InvoiceNo"):
        return "retail"
    if "review_text" in first or "reviewText" in first:
        return "reviews"
    if path.name == "u.data" or len(first.split("\t")) == 4:
        return "movielens"
    raise ValueError(f"cannot tell the format of {path}; pass --format ({', '.join(READERS)})")


def read_dataset(
    path: Path, fmt: str | None = None, limit: int | None = None, stats: ReplayStats | None = None
) -> Iterator[Pair]:
    """Every event of the dataset at ``path`` (at most ``limit`` events)."""
    reader = READERS[fmt or detect_format(path)]
    with _open(path) as f:
        yield from itertools.islice(reader(f, stats), limit)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="", errors="replace")
