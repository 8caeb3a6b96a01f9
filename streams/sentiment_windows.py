"""A product's review sentiment over the last hour and the last day, by event time. No Faust.

Scores are in [-1, 1]. The 1-hour window sums per-minute buckets; the 24-hour
window sums per-hour buckets. Both end with the newest scored review's
minute/hour, so they can be read at any later ``now``.

>>> w = SentimentWindows()
>>> w.add(3_600.0 * 1000 + 10, 0.8, negative=False)
>>> w.add(3_600.0 * 1000 + 20, -0.6, negative=True)
>>> s = w.summary(3_600.0 * 1000 + 30)
>>> s["1h"]["count"], round(s["1h"]["avg"], 2), s["1h"]["negative_share"]
(2, 0.1, 0.5)
>>> SentimentWindows.from_dict(w.to_dict()).to_dict() == w.to_dict()
True
"""

from __future__ import annotations

from typing import Any

from streams.windows import from_rows, sliding_bucket

MINUTE, HOUR = 60, 3_600
_SPANS = {"1h": (MINUTE, 60), "24h": (HOUR, 24)}


def _new() -> list[float]:
    return [0, 0.0, 0]  # count, score sum, negatives


class SentimentWindows:
    """Count, score sum and negatives per minute (1 h) and per hour (24 h)."""

    __slots__ = ("minutes", "hours")

    def __init__(self) -> None:
        self.minutes: dict[int, list[float]] = {}
        self.hours: dict[int, list[float]] = {}

    def add(self, ts: float, score: float, negative: bool) -> None:
        """Count one scored review at event time ``ts``."""
        for buckets, (size, keep) in zip((self.minutes, self.hours), _SPANS.values(), strict=True):
            bucket = sliding_bucket(buckets, int(ts // size), keep, _new)
            if bucket is None:
                continue  # older than the window keeps
            bucket[0] += 1
            bucket[1] += score
            bucket[2] += int(negative)

    def summary(self, now: float) -> dict[str, dict[str, Any]]:
        """For each window ending at ``now``: count, average score, share of negatives."""
        out = {}
        for (name, (size, keep)), buckets in zip(
            _SPANS.items(), (self.minutes, self.hours), strict=True
        ):
            last = int(now // size)
            count = total = negatives = 0.0
            for index, (n, s, neg) in buckets.items():
                if last - keep < index <= last:
                    count, total, negatives = count + n, total + s, negatives + neg
            out[name] = {
                "count": int(count),
                "avg": total / count if count else None,
                "negative_share": negatives / count if count else None,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "m": [[i, *b] for i, b in sorted(self.minutes.items())],
            "h": [[i, *b] for i, b in sorted(self.hours.items())],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentimentWindows:
        w = cls()
        w.minutes = from_rows(data.get("m", ()))
        w.hours = from_rows(data.get("h", ()))
        return w
