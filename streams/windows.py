"""Bucketed event-time counts: one plain list per minute or per hour, summed into windows.

A bucket map is ``{index: [views, carts, orders, units, revenue, reviews]}``,
index ``int(ts // size)``; lists, for speed and JSON. A map keeps the ``keep``
buckets behind (and including) the newest event's; older ones are dropped.

>>> hours: dict[int, list] = {}
>>> bucket_at(hours, 10, newest=10, keep=24)[ORDERS] += 1
>>> bucket_at(hours, -20, newest=10, keep=24) is None  # older than the day kept
True
>>> total(hours, 0, 10, 3600).orders
1
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

#: What each bucket holds, in order.
SLOTS = ("views", "carts", "orders", "units", "revenue", "reviews")
VIEWS, CARTS, ORDERS, UNITS, REVENUE, REVIEWS = range(len(SLOTS))

Buckets = dict[int, list[Any]]
#: Any kind of bucket (:func:`sliding_bucket`).
B = TypeVar("B")


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Counts of one window of event time, ``[start, end)`` in Unix seconds.

    >>> WindowCounts(0.0, 60.0, views=4, orders=1).conversion
    0.25
    >>> WindowCounts(0.0, 60.0, orders=1).conversion is None
    True
    """

    start: float
    end: float
    views: int = 0
    carts: int = 0
    orders: int = 0
    units: int = 0
    revenue: float = 0.0
    reviews: int = 0

    @property
    def conversion(self) -> float | None:
        """Orders per view in the window (None without views)."""
        return self.orders / self.views if self.views else None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form, with the conversion.

        >>> WindowCounts(0.0, 60.0, views=2).as_dict()["conversion"]
        0.0
        """
        return {
            "start": self.start,
            "end": self.end,
            "views": self.views,
            "carts": self.carts,
            "orders": self.orders,
            "units": self.units,
            "revenue": self.revenue,
            "reviews": self.reviews,
            "conversion": self.conversion,
        }


def new_bucket() -> list[Any]:
    return [0, 0, 0, 0, 0.0, 0]


def bucket_at(buckets: Buckets, index: int, newest: int, keep: int) -> list[Any] | None:
    """The bucket of ``index``, made if needed; None when it is older than the ``keep`` kept."""
    bucket = buckets.get(index)
    if bucket is None and index > newest - keep:
        bucket = buckets[index] = new_bucket()
    return bucket


def sliding_bucket(buckets: dict[int, B], index: int, keep: int, make: Callable[[], B]) -> B | None:
    """The bucket of ``index`` in a map that keeps the ``keep`` newest indexes: made with
    ``make()`` when new (dropping the buckets it pushes out), None when older than those kept.

    >>> b = {5: "five"}
    >>> sliding_bucket(b, 7, 2, str), b
    ('', {7: ''})
    >>> sliding_bucket(b, 5, 2, str), sliding_bucket(b, 6, 2, str), b
    (None, '', {7: '', 6: ''})
    """
    bucket = buckets.get(index)
    if bucket is None:
        if buckets and index <= max(buckets) - keep:
            return None
        bucket = buckets[index] = make()
        for old in [i for i in buckets if i <= index - keep]:
            del buckets[old]
    return bucket


def drop_before(buckets: Buckets, oldest: int) -> None:
    """Drop the buckets whose index is ``oldest`` or less."""
    for index in [i for i in buckets if i <= oldest]:
        del buckets[index]


def between(buckets: Buckets, first: int, last: int) -> list[list[Any]]:
    """The buckets from ``first`` to ``last``, both included."""
    return [b for i, b in buckets.items() if first <= i <= last]


def sums(rows: Iterable[list[Any]]) -> list[Any]:
    """Slot sums of buckets (a bucket's form; a new bucket when there are none)."""
    return [sum(column) for column in zip(*rows, strict=True)] or new_bucket()


def total(buckets: Buckets, first: int, last: int, size: int) -> WindowCounts:
    """Sum of the buckets from ``first`` to ``last`` (both included) of ``size`` seconds."""
    counts = sums(between(buckets, first, last))
    return WindowCounts(float(first * size), float((last + 1) * size), *counts)


def to_rows(buckets: Buckets) -> list[list[Any]]:
    """``[[index, *bucket], ...]`` in index order, for JSON."""
    return [[index, *bucket] for index, bucket in sorted(buckets.items())]


def from_rows(rows: Any) -> Buckets:
    """The buckets :func:`to_rows` wrote, or a map of them by index (JSON keys are text).

    >>> from_rows([[7, 1, 2]]) == from_rows({"7": [1, 2]}) == {7: [1, 2]}
    True
    """
    if isinstance(rows, dict):
        return {int(index): list(bucket) for index, bucket in rows.items()}
    return {int(row[0]): list(row[1:]) for row in rows}


def regroup(buckets: Buckets, factor: int) -> Buckets:
    """Coarser buckets: ``factor`` consecutive ones summed (minutes -> hours: 60).

    >>> regroup({119: [1, 0, 0, 0, 0.0, 0], 120: [2, 0, 1, 1, 2.5, 0]}, 60)
    {1: [1, 0, 0, 0, 0.0, 0], 2: [2, 0, 1, 1, 2.5, 0]}
    """
    out: Buckets = {}
    for index, bucket in sorted(buckets.items()):
        into = out.setdefault(index // factor, new_bucket())
        for slot, value in enumerate(bucket):
            into[slot] += value
    return out
