"""The facts the rules read, built from Pulse's state for one trigger. No Faust.

:func:`build_facts` makes the flat mapping of ``rules.facts`` for an event that
has just been applied to its product's state; :func:`tick_facts` for a product
re-read on a timer. Product windows end at the trigger's event time (``ts``).
A fact Pulse could not supply (no views for a conversion, no rating, a
detector still learning) is ``None``. A review's aspects (``review_aspects``,
``review_negative_aspects``) come from the caller's :class:`~streams.mentions.Mention`
list, absent without one; the ``aspect_top_negative*`` facts from the product's
complaint windows. User facts come from the caller (the feedback replica's
:meth:`~streams.replica.FeedbackReplica.user_facts`).

>>> from streams.schemas import SaleEvent
>>> state = ProductState()
>>> sale = SaleEvent(event_id="s1", ts=1.7e9, user_id="u", product_id="p", quantity=2, price=4.5)
>>> state.apply(sale)
>>> f = build_facts("sale", sale, state, versions={"recommender": "r1"})
>>> f["sale_amount"], f["units_1h"], f["revenue_24h"], f["conversion_1h"], f["stock"]
(9.0, 2, 9.0, None, None)
>>> f["anomaly_model_version"], f["recommender_model_version"]
('sales-velocity-1', 'r1')
>>> tick_facts("p", state, 1.7e9 + 7200)["event_id"], tick_facts("p", state, 1.7e9 + 7200)["units_1h"]
('tick:p:28333453', 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from models.anomaly import MODEL_VERSION as ANOMALY_VERSION
from streams.mentions import Mention
from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent
from streams.scoring import Sentiment
from streams.state import ProductState
from streams.users import USER_FACTS, sale_value
from streams.windows import ORDERS, REVENUE, SLOTS, UNITS, VIEWS

#: The trigger of each event type.
TRIGGER_OF: dict[type, str] = {
    ReviewEvent: "review",
    ClickEvent: "click",
    SaleEvent: "sale",
    ProductEvent: "product",
}


def build_facts(
    trigger: str,
    event: InputEvent,
    state: ProductState,
    sentiment: Sentiment | None = None,
    *,
    user: Mapping[str, Any] | None = None,
    versions: Mapping[str, str | None] | None = None,
    mentions: Sequence[Mention] | None = None,
) -> dict[str, Any]:
    """The facts of ``event`` on ``trigger``; ``state`` is its product's, after the event.

    ``sentiment`` is a review's score; ``user`` the user facts (review, click and
    sale triggers); ``versions`` maps ``sentiment`` and ``recommender`` to the
    versions in use (a review reports the version that scored it); ``mentions`` a
    review's aspects.
    """
    facts = _product(state, event.ts, versions)
    # the event's category and version win
    facts.update(_event(trigger, event, sentiment, mentions))
    if user and not isinstance(event, ProductEvent):
        facts.update(user)
    return facts


def _event(
    trigger: str,
    event: InputEvent,
    sentiment: Sentiment | None,
    mentions: Sequence[Mention] | None = None,
) -> dict[str, Any]:
    """The facts the event itself carries."""
    if TRIGGER_OF.get(type(event)) != trigger:
        raise ValueError(f"a {type(event).__name__} is not a {trigger!r} trigger")
    facts = {"event_id": event.event_id, "ts": event.ts, "product_id": event.product_id}
    if event.category_id is not None:
        facts["category_id"] = event.category_id
    if isinstance(event, ProductEvent):
        return facts
    facts["user_id"] = event.user_id
    if isinstance(event, ClickEvent):
        facts["click_action"], facts["session_id"] = event.action, event.session_id
    elif isinstance(event, SaleEvent):
        facts["sale_quantity"] = event.quantity
        facts["sale_price"], facts["sale_amount"] = event.price, sale_value(event)
        facts["order_id"] = event.order_id
    else:
        _review(facts, event, sentiment, mentions)
    return facts


def tick_facts(
    product_id: str,
    state: ProductState,
    now: float,
    *,
    versions: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The facts of a ``tick``: the product's state read at event time ``now``, without an
    event; ``event_id`` is ``tick:<product>:<minute>``, the same on every replay."""
    facts = _product(state, now, versions)
    facts["event_id"] = f"tick:{product_id}:{int(now // 60)}"
    facts["ts"], facts["product_id"] = float(now), product_id
    return facts


def _review(
    facts: dict[str, Any],
    event: ReviewEvent,
    sentiment: Sentiment | None,
    mentions: Sequence[Mention] | None,
) -> None:
    facts["review_rating"], facts["review_text"] = event.rating, event.text
    facts["review_lang"] = event.lang
    if mentions is not None:
        facts["review_aspects"] = [m.aspect for m in mentions]
        facts["review_negative_aspects"] = [m.aspect for m in mentions if m.negative]
    if sentiment is not None:
        facts["review_score"], facts["review_label"] = sentiment.score, sentiment.label
        facts["review_confidence"] = sentiment.confidence
        facts["sentiment_model_version"] = sentiment.model_version


_SPANS = ("1h", "24h")
_WINDOW_KEYS = {span: tuple(f"{slot}_{span}" for slot in SLOTS) for span in _SPANS}
_SENTIMENT_KEYS = {
    span: (f"sentiment_avg_{span}", f"sentiment_count_{span}", f"negative_share_{span}")
    for span in _SPANS
}


def _product(
    state: ProductState, at: float, versions: Mapping[str, str | None] | None
) -> dict[str, Any]:
    """Product, anomaly and model facts of ``state``, windows ending at ``at``."""
    hour, day = state.hour_and_day(at)
    facts = _totals(state, hour[UNITS])
    facts.update(_windows(hour, day))
    facts.update(_sentiment(state, at))
    facts.update(_complaints(state, at))
    facts.update(_catalog(state, versions))
    return facts


def _totals(state: ProductState, units_1h: float) -> dict[str, Any]:
    totals, catalog = state.totals, state.catalog
    price, lead_time = catalog["price"], catalog["lead_time_days"]
    return {
        "views_total": totals["views"],
        "orders_total": totals["orders"],
        "units_total": totals["units"],
        "revenue_total": float(totals["revenue"]),
        "reviews_total": totals["reviews"],
        "rating_avg": state.avg_rating,
        "price": None if price is None else float(price),
        "stock": catalog["stock"],
        "lead_time_days": None if lead_time is None else float(lead_time),
        "anomaly_score": state.velocity.score_one(None, units_1h) if state.velocity.ready else None,
        "anomaly_model_version": ANOMALY_VERSION,
    }


def _windows(hour: Sequence[float], day: Sequence[float]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for span, counts in zip(_SPANS, (hour, day), strict=True):
        facts.update(zip(_WINDOW_KEYS[span], counts, strict=True))
        facts[f"revenue_{span}"] = float(counts[REVENUE])
        facts[f"conversion_{span}"] = counts[ORDERS] / counts[VIEWS] if counts[VIEWS] else None
    return facts


def _sentiment(state: ProductState, at: float) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for span, summary in state.sentiment.summary(at).items():
        avg, count, negative = _SENTIMENT_KEYS[span]
        facts[avg], facts[count] = summary["avg"], summary["count"]
        facts[negative] = summary["negative_share"]
    return facts


def _complaints(state: ProductState, at: float) -> dict[str, Any]:
    """The aspect with the most complaints in the hour up to ``at``, its count and hourly
    mean over 24 h (no aspect without complaints in that hour: ``None``, 0, ``None``)."""
    top = state.complaints.top(at)
    if top is None:
        return dict(zip(_COMPLAINT_KEYS, (None, 0, None), strict=True))
    return dict(zip(_COMPLAINT_KEYS, top, strict=True))


_COMPLAINT_KEYS = (
    "aspect_top_negative",
    "aspect_top_negative_1h",
    "aspect_top_negative_hourly_24h",
)


def _catalog(state: ProductState, versions: Mapping[str, str | None] | None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if (category := state.catalog["category_id"]) is not None:
        facts["category_id"] = category
    if versions:
        facts["sentiment_model_version"] = versions.get("sentiment")
        facts["recommender_model_version"] = versions.get("recommender")
    return facts


#: The product facts by group, each computed when a rule first reads one of its facts
#: (:func:`lazy_facts`): a click's rules read its windows, rarely its totals or sentiment.
PRODUCT_GROUPS: dict[str, tuple[str, ...]] = {
    "totals": (
        "views_total",
        "orders_total",
        "units_total",
        "revenue_total",
        "reviews_total",
        "rating_avg",
        "price",
        "stock",
        "lead_time_days",
        "anomaly_score",
        "anomaly_model_version",
        "category_id",
        "sentiment_model_version",
        "recommender_model_version",
    ),
    "windows": (
        *_WINDOW_KEYS["1h"],
        "revenue_1h",
        "conversion_1h",
        *_WINDOW_KEYS["24h"],
        "revenue_24h",
        "conversion_24h",
    ),
    "sentiment": (*_SENTIMENT_KEYS["1h"], *_SENTIMENT_KEYS["24h"]),
    "complaints": _COMPLAINT_KEYS,
}
_GROUP_OF = {name: group for group, names in PRODUCT_GROUPS.items() for name in names}
_GROUP_OF_WITH_USER = {**_GROUP_OF, **dict.fromkeys(USER_FACTS, "user")}


class _ProductGroups:
    """Makers of one state's product facts by group, sharing one read of its windows."""

    __slots__ = ("state", "at", "versions", "_hour_and_day")

    def __init__(self, state: ProductState, at: float, versions: Mapping[str, str | None] | None):
        self.state, self.at, self.versions = state, at, versions
        self._hour_and_day: tuple[Any, Any] | None = None

    def makers(self) -> dict[str, Callable[[], Mapping[str, Any]]]:
        return {
            "totals": self.totals,
            "windows": self.windows,
            "sentiment": self.sentiment,
            "complaints": self.complaints,
        }

    def _windows_read(self) -> tuple[Any, Any]:
        if self._hour_and_day is None:
            self._hour_and_day = self.state.hour_and_day(self.at)
        return self._hour_and_day

    def totals(self) -> dict[str, Any]:
        facts = _totals(self.state, self._windows_read()[0][UNITS])
        facts.update(_catalog(self.state, self.versions))
        return facts

    def windows(self) -> dict[str, Any]:
        return _windows(*self._windows_read())

    def sentiment(self) -> dict[str, Any]:
        return _sentiment(self.state, self.at)

    def complaints(self) -> dict[str, Any]:
        return _complaints(self.state, self.at)


def lazy_facts(
    trigger: str,
    event: InputEvent,
    state: ProductState,
    sentiment: Sentiment | None = None,
    *,
    user: Callable[[], Mapping[str, Any]] | None = None,
    versions: Mapping[str, str | None] | None = None,
    lazy: Mapping[str, Callable[[], Any]] | None = None,
    mentions: Sequence[Mention] | None = None,
) -> LazyFacts:
    """:func:`build_facts`, with each group of product facts (:data:`PRODUCT_GROUPS`) and
    the user facts (``user()``) computed when a rule first reads one of them; ``lazy``:
    more facts, one maker each. A fact read gives what :func:`build_facts` holds under its
    name, and one it lacks stays missing (``tests/streams/test_facts.py``).

    Only reads by name compute (``f[name]``, ``f.get(name)``: rule conditions and
    templates); the facts must be read before their state changes (the processor
    evaluates an event's rules at once).
    """
    groups = _ProductGroups(state, event.ts, versions).makers()
    group_of = _GROUP_OF
    if user is not None and not isinstance(event, ProductEvent):
        groups["user"] = user
        group_of = _GROUP_OF_WITH_USER
    facts = _event(trigger, event, sentiment, mentions)
    return LazyFacts(facts, lazy, groups=groups, group_of=group_of)


class LazyFacts(dict[str, Any]):
    """Facts, some of them computed only when something reads them.

    A rule's condition and templates read facts with ``f[name]`` and ``f.get(name)``;
    a fact in ``lazy`` is computed on its first read and kept, and so is a whole group
    (``groups``: group -> maker of its facts; ``group_of``: fact -> its group) when one of
    its facts is first read; a fact the group's maker does not give is missing, and
    one already present is kept. The user's top recommendations cost a ranking (tens to
    hundreds of microseconds) that only a matching win-back rule reads, so no event pays
    for it otherwise. Iterating (or serialising) sees only what was computed so far.

    >>> f = LazyFacts({"a": 1}, lazy={"b": lambda: [2]})
    >>> "b" in f, f.get("b"), f["b"] is f["b"], "b" in f, f.get("c", 0)
    (False, [2], True, True, 0)
    >>> g = LazyFacts({"a": 1}, groups={"xy": lambda: {"a": 0, "x": 3}}, group_of=dict.fromkeys("axy", "xy"))
    >>> g.get("y"), sorted(g.items())
    (None, [('a', 1), ('x', 3)])
    """

    __slots__ = ("_lazy", "_groups", "_group_of")

    def __init__(
        self,
        facts: Mapping[str, Any],
        lazy: Mapping[str, Callable[[], Any]] | None = None,
        *,
        groups: dict[str, Callable[[], Mapping[str, Any]]] | None = None,
        group_of: Mapping[str, str] | None = None,
    ):
        super().__init__(facts)
        self._lazy = dict(lazy) if lazy else None
        self._groups = groups
        self._group_of = group_of

    def __missing__(self, name: str) -> Any:
        if self._lazy:
            make = self._lazy.pop(name, None)
            if make is not None:
                value = self[name] = make()
                return value
        if self._groups and self._group_of:
            group = self._group_of.get(name)
            make_group = None if group is None else self._groups.pop(group, None)
            if make_group is not None:
                setdefault = self.setdefault
                for key, value in make_group().items():
                    setdefault(key, value)
                if name in self:
                    return dict.__getitem__(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default


class UserFacts(Protocol):
    """Where user facts come from (the feedback replica)."""

    recommender_version: str

    def user_facts(
        self, event: ReviewEvent | ClickEvent | SaleEvent, recommendations: int = ...
    ) -> dict[str, Any]: ...

    def user_facts_later(
        self, event: ReviewEvent | ClickEvent | SaleEvent
    ) -> Callable[[], dict[str, Any]]: ...

    def top_items(self, user_id: str, k: int) -> list[str]: ...


class FactsBuilder(Protocol):
    """``(trigger, event, product state after the event, the review's sentiment and
    mentions) -> facts``: what the processor calls after applying an event."""

    def __call__(
        self,
        trigger: str,
        event: InputEvent,
        state: ProductState,
        sentiment: Sentiment | None,
        mentions: Sequence[Mention] | None = None,
    ) -> dict[str, Any]: ...


def builder(
    users: UserFacts | None = None,
    sentiment_version: Callable[[], str | None] = lambda: None,
    recommendations: int = 5,
) -> FactsBuilder:
    """A :class:`FactsBuilder` for the processor: the
    facts of :func:`build_facts`, computed as rules read them (:func:`lazy_facts`), with
    user facts from ``users`` (and ``user_top_recommendations``, ``recommendations`` of
    them) and the sentiment model's version read per call."""

    def facts(
        trigger: str,
        event: InputEvent,
        state: ProductState,
        sentiment: Sentiment | None,
        mentions: Sequence[Mention] | None = None,
    ) -> dict[str, Any]:
        versions = {
            "sentiment": sentiment_version(),
            "recommender": users.recommender_version if users else None,
        }
        if users is None or isinstance(event, ProductEvent):
            return lazy_facts(
                trigger, event, state, sentiment, versions=versions, mentions=mentions
            )
        user = users.user_facts_later(event)  # counts the event in flight now
        lazy = None
        if recommendations > 0:
            user_id, top = event.user_id, users.top_items
            lazy = {"user_top_recommendations": lambda: top(user_id, recommendations)}
        return lazy_facts(
            trigger,
            event,
            state,
            sentiment,
            user=user,
            versions=versions,
            lazy=lazy,
            mentions=mentions,
        )

    return facts
