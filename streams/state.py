"""Per-product state: totals, catalog facts and event-time windows. No Faust here.

Windows are kept as per-minute buckets (minute index ``int(ts // 60)``) for the
last hour of event time behind the newest event seen for the product, and
per-hour buckets for the last 24 hours; from them come a 1-minute tumbling
window, a 1-hour window hopping every minute and a 24-hour window hopping every
hour. An event too old for the buckets still counts in the totals. Each event
touches one bucket of each; closing an hour teaches the product's sales anomaly
detector (:mod:`models.anomaly`) that hour's units (a later event of a closed
hour counts in the windows only), so its state travels with the product's.

``stock`` is the latest product update's (by event time, kept in ``stock_ts``),
minus the units of sales that happened at or after it (never below 0): a sale
older than the stock figure is already in it, whatever order the two topics were
read in. ``lead_time_days`` and ``price`` are the latest update's.

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

from typing import Any

import orjson

from models.anomaly import SalesVelocity
from streams.aspect_windows import AspectWindows
from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent
from streams.sentiment_windows import SentimentWindows
from streams.windows import (
    CARTS,
    ORDERS,
    REVENUE,
    REVIEWS,
    SLOTS,
    UNITS,
    VIEWS,
    Buckets,
    WindowCounts,
    between,
    bucket_at,
    drop_before,
    from_rows,
    regroup,
    sums,
    to_rows,
    total,
)

__all__ = ["CATALOG", "SLOTS", "TOTALS", "ProductState", "WindowCounts"]

#: Seconds per minute bucket, and minute buckets kept (the hour behind the newest event).
MINUTE, WINDOW_MINUTES = 60, 60
#: Seconds per hour bucket, and hour buckets kept (the day behind the newest event).
HOUR, WINDOW_HOURS = 3_600, 24
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
_CLICK_TOTAL = {
    "view": "views",
    "add_to_cart": "carts",
    "remove_from_cart": "removals",
    "favorite": "favorites",
}
_CLICK_SLOT = {"view": VIEWS, "add_to_cart": CARTS}


class ProductState:
    """Everything Pulse knows about one product, updated one event at a time.

    ``totals`` and ``catalog`` are plain dicts (keys :data:`TOTALS` and
    :data:`CATALOG`); ``buckets`` maps a minute index, ``hours`` an hour index,
    to counts in :data:`~streams.windows.SLOTS` order; ``last_ts`` is the newest
    event time seen (0.0 before any event); ``velocity`` is the product's sales
    anomaly detector, which learns each hour's units as the hour closes.
    """

    __slots__ = (
        "totals",
        "catalog",
        "buckets",
        "hours",
        "last_ts",
        "sentiment",
        "complaints",
        "velocity",
    )

    def __init__(self) -> None:
        self.totals: dict[str, Any] = dict.fromkeys(TOTALS, 0)
        self.totals["revenue"] = 0.0
        self.catalog: dict[str, Any] = dict.fromkeys(CATALOG)
        self.buckets: Buckets = {}
        self.hours: Buckets = {}
        self.last_ts: float = 0.0
        self.sentiment = SentimentWindows()
        self.complaints = AspectWindows()
        self.velocity = SalesVelocity()

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

    def apply_complaints(self, ts: float, aspects: list[str]) -> None:
        """Count a review's negative mentions of ``aspects`` in the 1 h and 24 h windows."""
        self.complaints.add(ts, aspects)

    def _advance(self, ts: float) -> None:
        """Move the newest event time forward, dropping buckets that fall out of the windows."""
        if ts <= self.last_ts:
            return
        newest, previous = int(ts // MINUTE), int(self.last_ts // MINUTE)
        started, self.last_ts = self.last_ts > 0.0, ts
        if newest > previous:
            drop_before(self.buckets, newest - WINDOW_MINUTES)
            hour, last_hour = int(ts // HOUR), previous // 60
            if hour > last_hour:
                if started:
                    self._close_hours(last_hour, hour)
                drop_before(self.hours, hour - WINDOW_HOURS)

    def _close_hours(self, last_hour: int, hour: int) -> None:
        """Teach the anomaly detector the hours from ``last_hour`` up to ``hour`` (excluded)."""
        bucket = self.hours.get(last_hour)
        self.velocity.learn_one(None, bucket[UNITS] if bucket else 0)
        self.velocity.learn_idle(hour - last_hour - 1)

    def _targets(self, ts: float) -> list[list[Any]]:
        """The minute and hour buckets ``ts`` counts in (none when older than those kept)."""
        newest = self.last_ts
        out = []
        minute = bucket_at(self.buckets, int(ts // MINUTE), int(newest // MINUTE), WINDOW_MINUTES)
        if minute is not None:
            out.append(minute)
        hour = bucket_at(self.hours, int(ts // HOUR), int(newest // HOUR), WINDOW_HOURS)
        if hour is not None:
            out.append(hour)
        return out

    def _click(self, event: ClickEvent) -> None:
        self.totals[_CLICK_TOTAL[event.action]] += 1
        slot = _CLICK_SLOT.get(event.action)
        if slot is not None:
            for bucket in self._targets(event.ts):
                bucket[slot] += 1

    def _sale(self, event: SaleEvent) -> None:
        quantity, totals = event.quantity, self.totals
        revenue = quantity * event.price if event.price is not None else 0.0
        totals["orders"] += 1
        totals["units"] += quantity
        totals["revenue"] += revenue
        for bucket in self._targets(event.ts):
            bucket[ORDERS] += 1
            bucket[UNITS] += quantity
            bucket[REVENUE] += revenue
        stock, since = self.catalog["stock"], self.catalog.get("stock_ts")
        if stock is not None and (since is None or event.ts >= since):
            self.catalog["stock"] = max(0, stock - quantity)

    def _review(self, event: ReviewEvent) -> None:
        self.totals["reviews"] += 1
        if event.rating is not None:
            self.totals["rating_sum"] += event.rating
            self.totals["rating_count"] += 1
        for bucket in self._targets(event.ts):
            bucket[REVIEWS] += 1

    def _catalog(self, event: ProductEvent) -> None:
        since = self.catalog.get("stock_ts")
        for name in CATALOG:
            value = getattr(event, name)
            if value is None or (name == "stock" and since is not None and event.ts < since):
                continue  # a stock figure older than the one held is stale
            self.catalog[name] = value
        if event.stock is not None and (since is None or event.ts >= since):
            self.catalog["stock_ts"] = event.ts

    def window(self, first_minute: int, last_minute: int) -> WindowCounts:
        """Sum of the minute buckets from ``first_minute`` to ``last_minute``, both included."""
        return total(self.buckets, first_minute, last_minute, MINUTE)

    def tumbling_1m(self, now: float) -> WindowCounts:
        """The 1-minute tumbling window that contains ``now`` (event time)."""
        minute = int(now // MINUTE)
        return self.window(minute, minute)

    def hopping_1h(self, now: float) -> WindowCounts:
        """The 1-hour window, hopping every minute, that ends with ``now``'s minute."""
        minute = int(now // MINUTE)
        return self.window(minute - WINDOW_MINUTES + 1, minute)

    def hopping_24h(self, now: float) -> WindowCounts:
        """The 24 hour buckets that end with ``now``'s hour (23 to 24 h of event time).

        The current hour is partial: at 10:15 the window is yesterday 11:00 to 10:15.
        """
        hour = int(now // HOUR)
        return total(self.hours, hour - WINDOW_HOURS + 1, hour, HOUR)

    def hour_and_day(self, now: float) -> tuple[list[Any], list[Any]]:
        """Slot sums (:data:`~streams.windows.SLOTS` order) of :meth:`hopping_1h` and
        :meth:`hopping_24h` at ``now``, without building windows (for the facts)."""
        minute, hour, newest = int(now // MINUTE), int(now // HOUR), self.last_ts
        # at the newest minute (hour), every bucket kept is in the window
        if minute == int(newest // MINUTE):
            last_hour: Any = self.buckets.values()
        else:
            last_hour = between(self.buckets, minute - WINDOW_MINUTES + 1, minute)
        if hour == int(newest // HOUR):
            last_day: Any = self.hours.values()
        else:
            last_day = between(self.hours, hour - WINDOW_HOURS + 1, hour)
        return sums(last_hour), sums(last_day)

    def anomaly_score(self, now: float) -> float | None:
        """How anomalous the units sold in the hour up to ``now`` are, in [0, 1];
        None while the detector has too little history."""
        if not self.velocity.ready:
            return None
        return self.velocity.score_one(None, self.hopping_1h(now).units)

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
            "hopping_24h": self.hopping_24h(at).as_dict(),
            "sentiment": self.sentiment.summary(at),
            "complaints_1h": self.complaints.last_hour(at),
            "anomaly_score": self.anomaly_score(at),
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form; :meth:`from_dict` rebuilds the same state exactly (a state
        without complaints leaves them out)."""
        data = {
            "totals": dict(self.totals),
            "catalog": dict(self.catalog),
            "buckets": to_rows(self.buckets),
            "hours": to_rows(self.hours),
            "last_ts": self.last_ts,
            "sentiment": self.sentiment.to_dict(),
            "velocity": self.velocity.to_state(),
        }
        if self.complaints:
            data["complaints"] = self.complaints.to_dict()
        return data

    def to_json(self) -> bytes:
        """The JSON of :meth:`to_dict`'s content, written from the live maps without copying
        them (a window map is an object keyed by index); :meth:`from_dict` reads both forms.

        >>> s = ProductState()
        >>> s.buckets[5] = [1, 0, 0, 0, 0.0, 0]
        >>> ProductState.from_dict(orjson.loads(s.to_json())).to_dict() == s.to_dict()
        True
        """
        sentiment, complaints = self.sentiment, self.complaints
        data = {
            "totals": self.totals,
            "catalog": self.catalog,
            "buckets": self.buckets,
            "hours": self.hours,
            "last_ts": self.last_ts,
            "sentiment": {"m": sentiment.minutes, "h": sentiment.hours},
            "velocity": self.velocity.to_state(),
        }
        if complaints:
            data["complaints"] = {"m": complaints.minutes, "h": complaints.hours}
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProductState:
        """The state that :meth:`to_dict` wrote (after a JSON round trip, too).

        A state written before hour buckets existed gets them from its minute
        buckets (the last hour; the rest of that day is unknown) and a new detector.

        >>> ProductState.from_dict(ProductState().to_dict()).buckets
        {}
        """
        state = cls()
        state.totals.update(data["totals"])
        state.catalog.update(data["catalog"])
        state.buckets = from_rows(data["buckets"])
        state.last_ts = float(data["last_ts"])
        state.sentiment = SentimentWindows.from_dict(data.get("sentiment", {}))
        if (complaints := data.get("complaints")) is not None:
            state.complaints = AspectWindows.from_dict(complaints)
        hours = data.get("hours")
        state.hours = regroup(state.buckets, 60) if hours is None else from_rows(hours)
        if (velocity := data.get("velocity")) is not None:
            state.velocity = SalesVelocity.from_state(velocity)
        return state
