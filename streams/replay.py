"""Readers of public dataset formats, as ``(topic, event)`` pairs in file order. No Kafka here.

The formats, by the name :func:`detect_format` returns and :func:`read_dataset` takes:

- ``movielens``: MovieLens ``u.data`` (``user item rating ts``, tab-separated) -> rated reviews.
- ``taobao``: Taobao UserBehavior CSV, header optional -> clicks (pv, cart, fav) and sales (buy).
- ``retail``: UCI Online Retail CSV -> a product the first time a StockCode sells, and sales.
- ``reviews``: Amazon review CSV, Blitzer multi-domain or McAuley 5-core columns -> reviews.

A path ending in ``.gz`` is read through gzip. Event ids are deterministic,
``<source>:<row>`` with data rows counted from 1 (``source`` defaults to the
format name), so replaying a file twice is deduplicated by Pulse. Rows that
cannot be read are skipped and counted in :class:`ReplayStats`, never raised.

>>> import io
>>> stats = ReplayStats()
>>> rows = io.StringIO("user_id,item_id,category_id,behavior_type,timestamp\\n"
...                    "1,2,3,buy,1511658000\\n1,2,3,jump,1511658000\\n")
>>> [(t, e.event_id, e.product_id, e.category_id) for t, e in taobao(rows, stats)]
[('sales', 'taobao:1', '2', '3')]
>>> print(stats)
2 rows read, 1 skipped (unknown_behavior 1); events: sales 1
"""

from __future__ import annotations

import csv
import gzip
import itertools
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from streams.schemas import (
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    ClickAction,
    ClickEvent,
    InputEvent,
    ProductEvent,
    ReviewEvent,
    SaleEvent,
)

Pair = tuple[str, InputEvent]
#: A row as the reader saw it: its number, and its fields (None when it has the wrong shape).
Row = tuple[int, Any]
Parse = Callable[[int, Any], list[Pair]]
Lines = Iterable[str]

_TAOBAO_ACTIONS: dict[str, ClickAction] = {"pv": "view", "cart": "add_to_cart", "fav": "favorite"}
_TAOBAO_BEHAVIORS = {*_TAOBAO_ACTIONS, "buy"}
#: Undated reviews get ``SYNTHETIC_EPOCH + row``: deterministic, and in file order.
SYNTHETIC_EPOCH = 1_000_000_000.0
_DATE_FORMATS = ("%b %d %Y", "%d %b %Y", "%m %d %Y", "%Y-%m-%d", "%m/%d/%Y", "%b %Y")
_MONTH_WORD = re.compile(r"\b([A-Za-z]{3})[A-Za-z]*\.?")


@dataclass
class ReplayStats:
    """Rows read, rows skipped by reason, and events produced by topic.

    >>> s = ReplayStats(read=3, skipped=Counter(bad_row=1), events=Counter(clicks=2))
    >>> str(s)
    '3 rows read, 1 skipped (bad_row 1); events: clicks 2'
    """

    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(self.skipped.items()))
        events = ", ".join(f"{t} {n}" for t, n in sorted(self.events.items())) or "none"
        skipped = f"{self.skipped.total()} skipped" + (f" ({reasons})" if reasons else "")
        return f"{self.read} rows read, {skipped}; events: {events}"


Stats = ReplayStats | None


class _Skip(Exception):
    """A row deliberately left out; its message is the (bounded) reason."""


def _skip(reason: str) -> list[Pair]:
    raise _Skip(reason)


def _reason(exc: Exception) -> str:
    if isinstance(exc, _Skip):
        return str(exc)
    return "invalid" if isinstance(exc, ValidationError) else "bad_value"


def _run(rows: Iterable[Row], parse: Parse, stats: ReplayStats) -> Iterator[Pair]:
    """Parse every row, count what happened, yield the events."""
    for row, fields in rows:
        stats.read += 1
        try:
            pairs = parse(row, fields) if fields is not None else _skip("bad_row")
        except (_Skip, ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            stats.skipped[_reason(exc)] += 1
            continue
        for topic, event in pairs:
            stats.events[topic] += 1
            yield topic, event


def movielens(lines: Lines, stats: Stats = None, source: str = "movielens") -> Iterator[Pair]:
    """MovieLens ``u.data``: ``user item rating ts``, tab-separated, no header -> reviews.

    >>> [e.rating for _, e in movielens(["196\\t242\\t3\\t881250949\\n"])]
    [3]
    """
    rows = ((n, _split(line.split(), 4)) for n, line in enumerate(lines, 1) if line.strip())
    return _run(rows, partial(_movielens_row, source), _stats(stats))


def _movielens_row(source: str, row: int, fields: list[str]) -> list[Pair]:
    user, item, rating, ts = fields
    ids: dict[str, Any] = {"event_id": f"{source}:{row}", "user_id": user, "product_id": item}
    return [("reviews", ReviewEvent(**ids, ts=float(ts), rating=int(rating), text=""))]


def taobao(lines: Lines, stats: Stats = None, source: str = "taobao") -> Iterator[Pair]:
    """Taobao UserBehavior ``user,item,category,behavior,ts`` -> clicks and sales."""
    stats = _stats(stats)
    rows = _csv_rows(lines, stats)
    first = next(rows, None)
    if first is not None and _cell(first[0]).lower() != "user_id":
        rows = itertools.chain([first], rows)  # no header: the first row is data
    numbered = ((n, _split(parts, 5)) for n, parts in enumerate(rows, 1))
    return _run(numbered, partial(_taobao_row, source), stats)


def _taobao_row(source: str, row: int, fields: list[str]) -> list[Pair]:
    user, item, category, behavior, ts = fields
    common: dict[str, Any] = {"event_id": f"{source}:{row}", "ts": float(ts)}
    common |= {"user_id": user, "product_id": item, "category_id": category or None}
    if behavior == "buy":
        return [("sales", SaleEvent(quantity=1, **common))]
    if behavior not in _TAOBAO_ACTIONS:
        raise _Skip("unknown_behavior")
    return [("clicks", ClickEvent(action=_TAOBAO_ACTIONS[behavior], **common))]


def retail(lines: Lines, stats: Stats = None, source: str = "retail") -> Iterator[Pair]:
    """UCI Online Retail invoice lines -> sales, each new StockCode preceded by a product.

    Cancellations (invoice ``C...``), quantities below 1 and negative prices are
    skipped. A product first sold without a description gets its name in a
    second product event, the first time one appears.
    """
    stats, names = _stats(stats), dict[str, str | None]()
    return _run(_records(lines, stats), partial(_retail_row, source, names), stats)


def _retail_row(
    source: str, names: dict[str, str | None], row: int, rec: dict[str, str]
) -> list[Pair]:
    invoice, code = rec["InvoiceNo"].strip(), rec["StockCode"].strip()
    if invoice.upper().startswith("C"):
        raise _Skip("cancellation")
    quantity, price = _int(rec["Quantity"]), float(rec["UnitPrice"])
    if quantity < 1:
        raise _Skip("non_positive_quantity")
    if price < 0:
        raise _Skip("negative_price")
    sale = SaleEvent(
        event_id=f"{source}:{row}",
        ts=_invoice_time(rec["InvoiceDate"]),
        user_id=_customer(rec["CustomerID"]),
        product_id=code,
        quantity=quantity,
        price=price,
        currency="GBP",
        order_id=invoice,
    )
    return [*_new_product(names, sale, rec["Description"]), ("sales", sale)]


def _new_product(names: dict[str, str | None], sale: SaleEvent, description: str) -> list[Pair]:
    """A product event the first time a code is seen, or first seen with a name."""
    name = description.strip()[:512] or None
    if sale.product_id in names and (names[sale.product_id] or not name):
        return []
    names[sale.product_id] = name
    event_id = f"{sale.event_id}:product"
    product = ProductEvent(event_id=event_id, ts=sale.ts, product_id=sale.product_id, name=name)
    return [("products", product)]


def _invoice_time(text: str) -> float:
    """``2010-12-01 08:26:00`` (or UCI's own ``12/1/2010 8:26``), UTC unless it says otherwise.

    >>> _invoice_time("2010-12-01 08:26:00") == _invoice_time("12/1/2010 8:26")
    True
    """
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        when = datetime.strptime(text.strip(), "%m/%d/%Y %H:%M")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _customer(text: str) -> str:
    """``17850.0`` -> ``17850``; missing -> ``anonymous``.

    >>> _customer("17850.0"), _customer(""), _customer("nan")
    ('17850', 'anonymous', 'anonymous')
    """
    text = text.strip().removesuffix(".0")
    return "anonymous" if text.lower() in ("", "nan", "none") else text


def amazon_reviews(lines: Lines, stats: Stats = None, source: str = "reviews") -> Iterator[Pair]:
    """Amazon review CSV (Blitzer multi-domain or McAuley 5-core columns) -> reviews."""
    stats = _stats(stats)
    return _run(_records(lines, stats), partial(_review_row, source), stats)


def _review_row(source: str, row: int, rec: dict[str, str]) -> list[Pair]:
    text = _pick(rec, "review_text", "reviewText") or _pick(rec, "title", "summary")
    review = ReviewEvent(
        event_id=f"{source}:{row}",
        ts=_review_time(rec, row),
        user_id=_pick(rec, "reviewer", "reviewerID")[:MAX_ID_CHARS] or "anonymous",
        product_id=_pick(rec, "asin")[:MAX_ID_CHARS],
        text=text[:MAX_TEXT_CHARS],
        rating=_stars(_pick(rec, "rating", "overall")),
        category_id=_pick(rec, "domain")[:MAX_ID_CHARS] or None,
    )
    return [("reviews", review)]


def _stars(text: str) -> int | None:
    """Stars as a whole number 1..5 (half stars round up), or None.

    >>> _stars("5.0"), _stars("4.5"), _stars("0"), _stars("nan"), _stars("")
    (5, 5, None, None, None)
    """
    try:
        stars = float(text)
    except ValueError:
        return None
    return int(stars + 0.5) if 1 <= stars <= 5 else None


def _review_time(rec: dict[str, str], row: int) -> float:
    """Unix time of ``unixReviewTime`` or a leniently parsed date, else ``SYNTHETIC_EPOCH + row``.

    >>> _review_time({"date": "May 2, 2006"}, 1) == _review_time({"reviewTime": "05 2, 2006"}, 1)
    True
    >>> _review_time({"date": "sometime"}, 7)
    1000000007.0
    """
    if (unix := _pick(rec, "unixReviewTime")).isdigit():
        return float(unix)
    date = _MONTH_WORD.sub(r"\1", _pick(rec, "date", "reviewTime")).replace(",", " ")
    date = " ".join(date.split())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(date, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return SYNTHETIC_EPOCH + row


READERS: dict[str, Callable[..., Iterator[Pair]]] = {
    "movielens": movielens,
    "taobao": taobao,
    "retail": retail,
    "reviews": amazon_reviews,
}


def detect_format(path: Path | str) -> str:
    """The format of the dataset at ``path``, from its name and first line (ValueError if unsure)."""
    path = Path(path)
    with _open(path) as f:
        first = f.readline().lstrip("\ufeff")
    cells, name = first.strip().split(","), path.name.removesuffix(".gz")
    if first.startswith("user_id,item_id") or name.startswith("UserBehavior"):
        return "taobao"
    if len(cells) == 5 and cells[3] in _TAOBAO_BEHAVIORS:
        return "taobao"
    if first.startswith("InvoiceNo,"):
        return "retail"
    if "review_text" in cells or "reviewText" in cells:
        return "reviews"
    if name == "u.data" or (len(first.split("\t")) == 4 and first.split()[0].isdigit()):
        return "movielens"
    raise ValueError(f"cannot tell the format of {path}; pass one of: {', '.join(READERS)}")


def read_dataset(
    path: Path | str,
    fmt: str | None = None,
    limit: int | None = None,
    stats: ReplayStats | None = None,
    source: str | None = None,
) -> Iterator[Pair]:
    """Every event of the dataset at ``path``, at most ``limit`` of them, in file order.

    The format is detected unless ``fmt`` names it; a wrong ``fmt`` raises
    ValueError at once. ``source`` (default: the format name) prefixes event ids.
    """
    path, fmt = Path(path), fmt or detect_format(path)
    if fmt not in READERS:
        raise ValueError(f"unknown dataset format {fmt!r}; expected one of: {', '.join(READERS)}")
    stats = _stats(stats)
    return _read(path, READERS[fmt], limit, stats, source or fmt)


def _read(
    path: Path,
    reader: Callable[..., Iterator[Pair]],
    limit: int | None,
    stats: ReplayStats,
    source: str,
) -> Iterator[Pair]:
    with _open(path) as f:
        try:
            yield from itertools.islice(reader(f, stats, source), limit)
        except (EOFError, OSError, zlib.error):  # a truncated or corrupt .gz: keep what was read
            stats.skipped["unreadable_file_tail"] += 1


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return path.open(encoding="utf-8", errors="replace", newline="")


def _csv_rows(lines: Iterable[str], stats: ReplayStats) -> Iterator[list[str]]:
    """Non-blank CSV rows; a row the csv module rejects is counted and skipped."""
    reader = csv.reader(lines)
    while True:
        try:
            parts = next(reader)
        except StopIteration:
            return
        except csv.Error:
            stats.read += 1
            stats.skipped["bad_csv"] += 1
            continue
        if parts:
            yield parts


def _records(lines: Iterable[str], stats: ReplayStats) -> Iterator[Row]:
    """Numbered CSV rows as dicts keyed by the header (None when the width differs)."""
    rows = _csv_rows(lines, stats)
    header = [_cell(name) for name in next(rows, [])]
    for n, parts in enumerate(rows, 1):
        yield n, dict(zip(header, parts, strict=True)) if len(parts) == len(header) else None


def _split(parts: list[str], width: int) -> list[str] | None:
    return [p.strip() for p in parts] if len(parts) == width else None


def _cell(text: str) -> str:
    return text.strip().lstrip("\ufeff")


def _pick(rec: dict[str, str], *keys: str) -> str:
    """The first present, non-blank value among ``keys`` (stripped), or ``""``."""
    return next((v.strip() for k in keys if (v := rec.get(k)) and v.strip()), "")


def _int(text: str) -> int:
    """A whole number, also when written as ``6.0``."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
    if not number.is_integer():
        raise ValueError(f"not a whole number: {text!r}")
    return int(number)


def _stats(stats: ReplayStats | None) -> ReplayStats:
    return ReplayStats() if stats is None else stats
