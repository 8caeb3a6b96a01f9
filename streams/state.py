"""Per-product state: totals, catalog facts and event-time windows. No Faust here.

Windows are kept as per-minute buckets (minute index ``int(ts // 60)``) for the
last hour of event time behind the newest event seen for the product; from them
come a 1-minute tumbling window and a 1-hour window hopping every minute. An
event too old for the buckets still counts in the totals.

``remove_from_cart`` clicks are counted in their own total, ``removals``; they
do not subtract from ``carts`` and are not bucketed.

>>> from streams.schemas import ClickEvent, SaleEvent
>>> t0 = 1_700_000_040.0  # the start of a minute
>>> s = ProductState()
>>> s.apply(ClickEvent(event_id="a", ts=t0 + 1, user_id="u", product_id="p", action="view"))
>>> s.apply(SaleEvent(event_id="b", ts=t0 + 30, user_id="u", product_id="p", quantity=2,
...                   price=2.5))
>>> s.totals["orders"], s.totals["units"], s.totals["revenue"]
(1, 2, 5.0)
>>> w = s.hopping_1h(t0 + 59)
>>> w.start, w.end, w.views, w.conversion
(1699996500.0, 1700000100.0, 1, 1.0)
>>> s.tumbling_1m(t0 + 60).views
0
>>> ProductState.from_dict(s.to_dict()).to_dict() == s.to_dict()
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent
from streams.sentiment_windows import SentimentWindows

#: Seconds per bucket.
MINUTE = 60
#: Buckets kept behind (and including) the newest event's minute: one hour.
WINDOW_MINUTES = 60
#: Totals since the start, all counts except ``revenue`` and ``rating_sum``.
TOTALS = (
    "views",
    "carts",
    "removals",
    "favorites",
    "orders",
    "units",
    "revenue",
    "reviews",
    "rating_sum",
    "rating_count",
)
#: Catalog facts, ``None`` until a product event carries them.
CATALOG = ("name", "category_id", "price", "stock", "lead_time_days")
#: What each bucket holds, in order (a bucket is a plain list, for speed and JSON).
SLOTS = ("views", "carts", "orders", "units", "revenue", "reviews")
_VIEWS, _CARTS, _ORDERS, _UNITS, _REVENUE, _REVIEWS = range(len(SLOTS))
_CLICK_TOTAL = {
    "view": "views",
    "add_to_cart": "carts",
    "remove_from_cart": "removals",
    "favorite": "favorites",
}
_CLICK_SLOT = {"view": _VIEWS, "add_to_cart": _CARTS}


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


def _new_bucket() -> list[Any]:
    return [0, 0, 0, 0, 0.0, 0]


class ProductState:
    """Everything Pulse knows about one product, updated one event at a time.

    ``totals`` and ``catalog`` are plain dicts (keys :data:`TOTALS` and
    :data:`CATALOG`); ``buckets`` maps a minute index to counts in :data:`SLOTS`
    order; ``last_ts`` is the newest event time seen (0.0 before any event).
    """

    __slots__ = ("totals", "catalog", "buckets", "last_ts", "sentiment")

    def __init__(self) -> None:
        self.totals: dict[str, Any] = dict.fromkeys(TOTALS, 0)
        self.totals["revenue"] = 0.0
        self.catalog: dict[str, Any] = dict.fromkeys(CATALOG)
        self.buckets: dict[int, list[Any]] = {}
        self.last_ts: float = 0.0
        self.sentiment = SentimentWindows()

    def apply(self, event: InputEvent) -> None:
        """Fold one validated event (review, click, sale or product) into the state."""
        self._advance(event.ts)
        if isinstance(event, ClickEvent):
            self._click(event)
        elif isinstance(event, SaleEvent):
            self._sale(event)
        elif isinstance(event, ReviewEvent):
            self._review(event)
        elif isinstance(event, ProductEvent):
            self._catalog(event)

    def apply_sentiment(self, ts: float, score: float, negative: bool) -> None:
        """Count a review's sentiment score (in [-1, 1]) in the 1 h and 24 h windows."""
        self.sentiment.add(ts, score, negative)

    def _advance(self, ts: float) -> None:
        """Move the newest event time forward, dropping buckets that fall out of the hour."""
        if ts <= self.last_ts:
            return
        newest, previous = int(ts // MINUTE), int(self.last_ts // MINUTE)
        self.last_ts = ts
        if newest > previous:
            oldest = newest - WINDOW_MINUTES
            for minute in [m for m in self.buckets if m <= oldest]:
                del self.buckets[minute]

    def _bucket(self, ts: float) -> list[Any] | None:
        """The bucket of ``ts``'s minute, or None when it is older than the hour kept."""
        minute = int(ts // MINUTE)
        bucket = self.buckets.get(minute)
        if bucket is None and minute > int(self.last_ts // MINUTE) - WINDOW_MINUTES:
            bucket = self.buckets[minute] = _new_bucket()
        return bucket

    def _click(self, event: ClickEvent) -> None:
        self.totals[_CLICK_TOTAL[event.action]] += 1
        slot = _CLICK_SLOT.get(event.action)
        if slot is not None and (bucket := self._bucket(event.ts)) is not None:
            bucket[slot] += 1

    def _sale(self, event: SaleEvent) -> None:
        quantity, totals = event.quantity, self.totals
        revenue = quantity * event.price if event.price is not None else 0.0
        totals["orders"] += 1
        totals["units"] += quantity
        totals["revenue"] += revenue
        if (bucket := self._bucket(event.ts)) is not None:
            bucket[_ORDERS] += 1
            bucket[_UNITS] += quantity
            bucket[_REVENUE] += revenue
        if (stock := self.catalog["stock"]) is not None:
            self.catalog["stock"] = max(0, stock - quantity)

    def _review(self, event: ReviewEvent) -> None:
        self.totals["reviews"] += 1
        if event.rating is not None:
            self.totals["rating_sum"] += event.rating
            self.totals["rating_count"] += 1
        if (bucket := self._bucket(event.ts)) is not None:
            bucket[_REVIEWS] += 1

    def _catalog(self, event: ProductEvent) -> None:
        for name in CATALOG:
            value = getattr(event, name)
            if value is not None:
                self.catalog[name] = value

    def window(self, first_minute: int, last_minute: int) -> WindowCounts:
        """Sum of the buckets from ``first_minute`` to ``last_minute``, both included."""
        sums = _new_bucket()
        for minute, bucket in self.buckets.items():
            if first_minute <= minute <= last_minute:
                for slot, value in enumerate(bucket):
                    sums[slot] += value
        return WindowCounts(float(first_minute * MINUTE), float((last_minute + 1) * MINUTE), *sums)

    def tumbling_1m(self, now: float) -> WindowCounts:
        """The 1-minute tumbling window that contains ``now`` (event time)."""
        minute = int(now // MINUTE)
        return self.window(minute, minute)

    def hopping_1h(self, now: float) -> WindowCounts:
        """The 1-hour window, hopping every minute, that ends with ``now``'s minute."""
        minute = int(now // MINUTE)
        return self.window(minute - WINDOW_MINUTES + 1, minute)

    @property
    def conversion(self) -> float | None:
        """Orders per view since the start (None without views)."""
        views = self.totals["views"]
        return self.totals["orders"] / views if views else None

    @property
    def avg_rating(self) -> float | None:
        """Mean star rating of the rated reviews (None without any)."""
        count = self.totals["rating_count"]
        return self.totals["rating_sum"] / count if count else None

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-able view for the HTTP API, windows taken at ``now`` (default: ``last_ts``)."""
        at = self.last_ts if now is None else now
        return {
            "totals": {**self.totals, "conversion": self.conversion, "avg_rating": self.avg_rating},
            "catalog": dict(self.catalog),
            "last_ts": self.last_ts,
            "tumbling_1m": self.tumbling_1m(at).as_dict(),
            "hopping_1h": self.hopping_1h(at).as_dict(),
            "sentiment": self.sentiment.summary(at),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; :meth:`from_dict` rebuilds the same state exactly."""
        return {
            "totals": dict(self.totals),
            "catalog": dict(self.catalog),
            "buckets": [[minute, *b] for minute, b in sorted(self.buckets.items())],
            "last_ts": self.last_ts,
            "sentiment": self.sentiment.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductState:
        """The state that :meth:`to_dict` wrote (after a JSON round trip, too).

        >>> ProductState.from_dict(ProductState().to_dict()).buckets
        {}
        """
        state = cls()
        state.totals.update(data["totals"])
        state.catalog.update(data["catalog"])
        state.buckets = {int(row[0]): list(row[1:]) for row in data["buckets"]}
        state.last_ts = float(data["last_ts"])
        state.sentiment = SentimentWindows.from_dict(data.get("sentiment", {}))
        return state
