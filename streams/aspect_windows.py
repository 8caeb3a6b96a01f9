"""A product's complaints by aspect over the last hour and the last day, by event time.

A *complaint* is a negative mention of an aspect in a review (:mod:`streams.mentions`).
The 1-hour window sums per-minute counts; the 24-hour window sums per-hour counts.
Both end with the newest complaint's minute/hour (older buckets are dropped as it
moves on), so they can be read at any later ``now``, like
:class:`~streams.sentiment_windows.SentimentWindows`. No Faust.

>>> t = 3_600.0 * 1000
>>> w = AspectWindows()
>>> w.add(t + 10, ["battery", "screen"])
>>> w.add(t + 70, ["battery"])
>>> w.top(t + 80)
('battery', 2, 0.08333333333333333)
>>> w.last_hour(t + 80)
{'battery': 2, 'screen': 1}
>>> w.top(t + 3_700) is None  # an hour later: nothing in the last hour
True
>>> AspectWindows.from_dict(w.to_dict()).to_dict() == w.to_dict()
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.windows import sliding_bucket

MINUTE, HOUR = 60, 3_600
#: (bucket seconds, buckets kept) of the 1 h and the 24 h window.
_SPANS = ((MINUTE, 60), (HOUR, 24))
#: Aspects counted in one bucket at most: a flood of distinct names must not grow a
#: product's state (and its changelog record) without bound; 84 buckets of 50 short
#: names stay under 100 KB of JSON.
MAX_ASPECTS_PER_BUCKET = 50
#: Counts by aspect in one bucket.
Counts = dict[str, int]


class AspectWindows:
    """Complaints by aspect per minute (the last hour) and per hour (the last day)."""

    __slots__ = ("minutes", "hours")

    def __init__(self) -> None:
        self.minutes: dict[int, Counts] = {}
        self.hours: dict[int, Counts] = {}

    def __bool__(self) -> bool:
        return bool(self.hours)

    def add(self, ts: float, aspects: Iterable[str]) -> None:
        """Count one complaint about each of ``aspects`` at event time ``ts``."""
        aspects = list(aspects)
        if not aspects:
            return
        for buckets, (size, keep) in zip((self.minutes, self.hours), _SPANS, strict=True):
            bucket = sliding_bucket(buckets, int(ts // size), keep, dict)
            if bucket is None:
                continue
            for aspect in aspects:
                if aspect in bucket or len(bucket) < MAX_ASPECTS_PER_BUCKET:
                    bucket[aspect] = bucket.get(aspect, 0) + 1

    def top(self, now: float) -> tuple[str, int, float] | None:
        """The aspect with the most complaints in the hour up to ``now`` (ties: the first
        name in sort order), its count there and its hourly mean over the 24 h up to
        ``now``; None without complaints in that hour."""
        hour = _sum(self.minutes, int(now // MINUTE), 60)
        if not hour:
            return None
        aspect, count = min(hour.items(), key=_most_first)
        last = int(now // HOUR)
        day = sum(c.get(aspect, 0) for i, c in self.hours.items() if last - 24 < i <= last)
        return aspect, count, day / 24

    def last_hour(self, now: float, n: int = 10) -> Counts:
        """The ``n`` aspects with the most complaints in the hour up to ``now``, most first
        (ties in name order), with their counts."""
        ranked = sorted(_sum(self.minutes, int(now // MINUTE), 60).items(), key=_most_first)
        return dict(ranked[:n])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (bucket indexes as text, as JSON keys are)."""
        return {
            "m": {str(i): dict(c) for i, c in sorted(self.minutes.items())},
            "h": {str(i): dict(c) for i, c in sorted(self.hours.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AspectWindows:
        w = cls()
        w.minutes = {int(i): dict(c) for i, c in data.get("m", {}).items()}
        w.hours = {int(i): dict(c) for i, c in data.get("h", {}).items()}
        return w


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _sum(buckets: dict[int, Counts], last: int, keep: int) -> Counts:
    out: Counts = {}
    for index, counts in buckets.items():
        if last - keep < index <= last:
            for aspect, n in counts.items():
                out[aspect] = out.get(aspect, 0) + n
    return out
