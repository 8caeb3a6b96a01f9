"""Per-product state: totals, catalog facts and event-time windows. No Faust here.

Windows are kept as per-minute buckets (``int(ts // 60)``) for the last hour of
event time behind the newest event of the product; from them come a 1-minute
tumbling window and a 1-hour window hopping every minute.

>>> from streams.schemas import ClickEvent, SaleEvent
>>> s = ProductState()
>>> s.apply(ClickEvent(event_id="a", ts=120.5 + 1e9, user_id="u", product_id="p", action="view"))
>>> s.apply(SaleEvent(event_id="b", ts=150.0 + 1e9, user_id="u", product_id="p", quantity=2, price=2.5))
>>> s.totals["orders"], s.totals["revenue"], s.hopping_1h(1e9 + 170).conversion
(1, 5.0, 1.0)
>>> ProductState.from_dict(s.to_dict()).to_dict() == s.to_dict()
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent

MINUTE = 60
WINDOW_MINUTES = 60
TOTALS = ("views", "carts", "removals", "favorites", "orders", "units", "revenue", "reviews",
          "rating_sum", "rating_count")
CATALOG = ("name", "category_id", "price", "stock", "lead_time_days")
#: Bucket slots: views, carts, orders, units, revenue, reviews.
_SLOTS = ("views", "carts", "orders", "units", "revenue", "reviews")
_CLICK_TOTAL = {"view": "views", "add_to_cart": "carts", "remove_from_cart": "removals",
                "favorite": "favorites"}
_CLICK_SLOT = {"view": 0, "add_to_cart": 1}


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Counts of one window ``[start, end)`` of event time."""

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
        return {"start": self.start, "end": self.end, "views": self.views, "carts": self.carts,
                "orders": self.orders, "units": self.units, "revenue": round(self.revenue, 6),
                "reviews": self.reviews, "conversion": self.conversion}


class ProductState:
    """Everything Pulse knows about one product, updated one event at a time."""

    __slots__ = ("totals", "catalog", "buckets", "last_ts")

    def __init__(self) -> None:
        self.totals: dict[str, float] = dict.fromkeys(TOTALS, 0)
        self.catalog: dict[str, Any] = dict.fromkeys(CATALOG)
        self.buckets: dict[int, list[float]] = {}
        self.last_ts: float = 0.0

    def apply(self, event: InputEvent) -> None:
        """Fold one validated event into the state."""
        if isinstance(event, ClickEvent):
            self.totals[_CLICK_TOTAL[event.action]] += 1
            slot = _CLICK_SLOT.get(event.action)
            if slot is not None:
                self._bucket(event.ts, slot, 1)
        elif isinstance(event, SaleEvent):
            self._sale(event)
        elif isinstance(event, ReviewEvent):
            self._review(event)
        elif isinstance(event, ProductEvent):
            self._catalog(event)
        self.last_ts = max(self.last_ts, event.ts)

    def _sale(self, event: SaleEvent) -> None:
        revenue = event.quantity * event.price if event.price is not None else 0.0
        t = self.totals
        t["orders"] += 1
        t["units"] += event.quantity
        t["revenue"] += revenue
        self._bucket(event.ts, 2, 1)
        self._bucket(event.ts, 3, event.quantity)
        self._bucket(event.ts, 4, revenue)
        if self.catalog["stock"] is not None:
            self.catalog["stock"] = max(0, self.catalog["stock"] - event.quantity)

    def _review(self, event: ReviewEvent) -> None:
        self.totals["reviews"] += 1
        if event.rating is not None:
            self.totals["rating_sum"] += event.rating
            self.totals["rating_count"] += 1
        self._bucket(event.ts, 5, 1)

    def _catalog(self, event: ProductEvent) -> None:
        for name in CATALOG:
            value = getattr(event, name)
            if value is not None:
                self.catalog[name] = value

    def _bucket(self, ts: float, slot: int, amount: float) -> None:
        minute = int(ts // MINUTE)
        newest = max(minute, int(self.last_ts // MINUTE))
        if minute <= newest - WINDOW_MINUTES:
            return
        bucket = self.buckets.get(minute)
        if bucket is None:
            bucket = self.buckets[minute] = [0, 0, 0, 0, 0.0, 0]
            self._expire(newest)
        bucket[slot] += amount

    def _expire(self, newest: int) -> None:
        for minute in [m for m in self.buckets if m <= newest - WINDOW_MINUTES]:
            del self.buckets[minute]

    def window(self, first_minute: int, last_minute: int) -> WindowCounts:
        """Sum of the buckets from ``first_minute`` to ``last_minute`` inclusive."""
        sums = [0.0] * len(_SLOTS)
        for minute, bucket in self.buckets.items():
            if first_minute <= minute <= last_minute:
                sums = [a + b for a, b in zip(sums, bucket, strict=True)]
        views, carts, orders, units, revenue, reviews = sums
        return WindowCounts(first_minute * MINUTE, (last_minute + 1) * MINUTE, int(views),
                            int(carts), int(orders), int(units), revenue, int(reviews))

    def tumbling_1m(self, now: float) -> WindowCounts:
        """The 1-minute tumbling window that contains ``now``."""
        minute = int(now // MINUTE)
        return self.window(minute, minute)

    def hopping_1h(self, now: float) -> WindowCounts:
        """The 1-hour window (hopping every minute) that ends with ``now``'s minute."""
        minute = int(now // MINUTE)
        return self.window(minute - WINDOW_MINUTES + 1, minute)

    @property
    def conversion(self) -> float | None:
        """Orders per view since the start (None without views)."""
        views = self.totals["views"]
        return self.totals["orders"] / views if views else None

    def snapshot(self, now: float) -> dict[str, Any]:
        """A JSON-able view for the HTTP API; windows are taken at ``now`` (event time)."""
        count = self.totals["rating_count"]
        return {
            "totals": {**self.totals, "conversion": self.conversion,
                       "avg_rating": self.totals["rating_sum"] / count if count else None},
            "catalog": dict(self.catalog), "last_ts": self.last_ts,
            "tumbling_1m": self.tumbling_1m(now).as_dict(),
            "hopping_1h": self.hopping_1h(now).as_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; :meth:`from_dict` rebuilds the same state exactly."""
        return {"totals": dict(self.totals), "catalog": dict(self.catalog),
                "buckets": [[m, *b] for m, b in sorted(self.buckets.items())],
                "last_ts": self.last_ts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductState:
        state = cls()
        state.totals.update(data["totals"])
        state.catalog.update(data["catalog"])
        state.buckets = {int(row[0]): list(row[1:]) for row in data["buckets"]}
        state.last_ts = float(data["last_ts"])
        return state
