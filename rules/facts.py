"""The facts a rule may read: name, type, unit, meaning, and on which triggers they exist.

A *trigger* is what makes Pulse evaluate rules: a scored ``review``, a ``click``,
a ``sale``, a ``product`` (catalog/stock) update, or a ``tick`` (a product's
windows re-read on a timer, without an event). The caller (``streams/``) builds
one flat mapping of facts per trigger; a fact it cannot supply yet (no
sentiment, no recommender) is left out or set to ``None``, and rules that need
it do not fire.

>>> FACTS["review_score"].type, FACTS["review_score"].unit
('float', 'score in [-1, 1]')
>>> sorted(FACTS["user_product_views"].triggers)
['click', 'review', 'sale']
>>> facts_for("tick") >= {"views_1h", "stock"}, "user_id" in facts_for("tick")
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

#: Every trigger, in documentation order.
TRIGGERS: tuple[str, ...] = ("review", "click", "sale", "product", "tick")
#: Fact types, as rules see them (``int`` and ``float`` are both numbers to the type checker).
TYPES: tuple[str, ...] = ("int", "float", "str", "bool", "list[str]")

_ALL = frozenset(TRIGGERS)
_USER = frozenset({"review", "click", "sale"})


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact of the catalogue."""

    name: str
    type: str
    unit: str
    description: str
    group: str
    triggers: frozenset[str]
    #: The model whose version a decision using this fact reports (``None``: no model).
    model: str | None = None


def _group(
    group: str, triggers: frozenset[str], rows: list[tuple[str, str, str, str]]
) -> dict[str, Fact]:
    return {
        name: Fact(name, type_, unit, text, group, triggers) for name, type_, unit, text in rows
    }


_TRIGGER_ROWS = [
    ("event_id", "str", "id", "the triggering event's id (ticks: a deterministic tick id)"),
    ("ts", "float", "Unix seconds", "the triggering event's time (ticks: the tick's time)"),
    ("product_id", "str", "id", "the product the event or tick is about"),
    ("category_id", "str", "id", "the product's category, when known"),
]
_USER_ID_ROWS = [("user_id", "str", "id", "the user who reviewed, clicked or bought")]
_REVIEW_ROWS = [
    (
        "review_score",
        "float",
        "score in [-1, 1]",
        "the review's sentiment score (-1 most negative)",
    ),
    ("review_label", "str", "label", "sentiment label: 'negative', 'neutral' or 'positive'"),
    ("review_confidence", "float", "probability in [0, 1]", "the model's confidence in the label"),
    ("review_rating", "int", "stars 1-5", "the star rating the user gave, when given"),
    ("review_text", "str", "text", "the review's text"),
    ("review_lang", "str", "language tag", "the review's language, when given"),
    ("review_aspects", "list[str]", "aspect names", "aspects the review mentions, in order"),
    (
        "review_negative_aspects",
        "list[str]",
        "aspect names",
        "aspects it complains of: named in a clause the model scores negative",
    ),
]
_CLICK_ROWS = [
    ("click_action", "str", "action", "'view', 'add_to_cart', 'remove_from_cart' or 'favorite'"),
    ("session_id", "str", "id", "the click's session, when given"),
]
_SALE_ROWS = [
    ("sale_quantity", "int", "units", "units bought in this sale"),
    ("sale_price", "float", "currency per unit", "unit price of this sale, when given"),
    ("sale_amount", "float", "currency", "quantity x price of this sale (0 without a price)"),
    ("order_id", "str", "id", "the sale's order id, when given"),
]
_PRODUCT_ROWS = [
    *[
        (f"{what}_{span}", type_, unit, f"{text} in the last {span} (event time)")
        for span in ("1h", "24h")
        for what, type_, unit, text in [
            ("views", "int", "count", "product page views"),
            ("carts", "int", "count", "add-to-cart clicks"),
            ("orders", "int", "count", "sales (orders)"),
            ("units", "int", "units", "units sold"),
            ("revenue", "float", "currency", "revenue"),
            ("reviews", "int", "count", "reviews received"),
            ("conversion", "float", "ratio", "orders per view (absent without views)"),
            ("sentiment_avg", "float", "score in [-1, 1]", "mean review sentiment"),
            ("sentiment_count", "int", "count", "scored reviews"),
            ("negative_share", "float", "ratio in [0, 1]", "share of negative reviews"),
        ]
    ],
    ("views_total", "int", "count", "product page views since Pulse started"),
    ("orders_total", "int", "count", "sales since Pulse started"),
    ("units_total", "int", "units", "units sold since Pulse started"),
    ("revenue_total", "float", "currency", "revenue since Pulse started"),
    ("reviews_total", "int", "count", "reviews since Pulse started (the review count)"),
    ("rating_avg", "float", "stars 1-5", "mean star rating of rated reviews"),
    ("price", "float", "currency per unit", "list price from the latest product update"),
    ("stock", "int", "units", "units in stock (product updates, minus units sold since)"),
    ("lead_time_days", "float", "days", "restocking lead time from the latest product update"),
    (
        "aspect_top_negative",
        "str",
        "aspect name",
        "the aspect with most complaints (negative mentions) in the last 1 h; none: absent",
    ),
    ("aspect_top_negative_1h", "int", "count", "its complaints in the last 1 h (0 without one)"),
    ("aspect_top_negative_hourly_24h", "float", "count per hour", "its hourly mean over 24 h"),
]
_ANOMALY_ROWS = [
    ("anomaly_score", "float", "score in [0, 1]", "online anomaly score of sales (river detector)"),
]
_MODEL_ROWS = [
    (
        "sentiment_model_version",
        "str",
        "version",
        "the sentiment model in use (on a review: the one that scored it)",
    ),
    ("anomaly_model_version", "str", "version", "the anomaly detector in use"),
    ("recommender_model_version", "str", "version", "the recommender in use"),
]
_USER_ROWS = [
    (
        "user_product_views",
        "int",
        "count",
        "this user's views of this product since their last purchase of it (24 h)",
    ),
    ("user_product_orders", "int", "count", "this user's orders of this product, lifetime"),
    (
        "user_carts_abandoned",
        "int",
        "count",
        "carts this user left without buying in the last 24 h",
    ),
    ("user_orders_total", "int", "count", "this user's orders, lifetime"),
    ("user_value_total", "float", "currency", "this user's spend, lifetime"),
]
_RECOMMENDER_ROWS = [
    (
        "user_top_recommendations",
        "list[str]",
        "product ids",
        "the user's top recommendations, best first",
    ),
]

#: The catalogue: fact name -> :class:`Fact`.
FACTS: dict[str, Fact] = {
    **_group("trigger", _ALL, _TRIGGER_ROWS),
    **_group("trigger", _USER, _USER_ID_ROWS),
    **_group("review", frozenset({"review"}), _REVIEW_ROWS),
    **_group("click", frozenset({"click"}), _CLICK_ROWS),
    **_group("sale", frozenset({"sale"}), _SALE_ROWS),
    **_group("product", _ALL, _PRODUCT_ROWS),
    **_group("product", _ALL, _ANOMALY_ROWS),
    **_group("user", _USER, _USER_ROWS),
    **_group("user", _USER, _RECOMMENDER_ROWS),
    **_group("model", _ALL, _MODEL_ROWS),
}
#: Facts computed by a model: a decision that uses one reports that model's version.
_MODEL_OF = {
    **dict.fromkeys(
        [
            "review_score",
            "review_label",
            "review_confidence",
            *[
                f"{w}_{s}"
                for w in ("sentiment_avg", "sentiment_count", "negative_share")
                for s in ("1h", "24h")
            ],
        ],
        "sentiment",
    ),
    "anomaly_score": "anomaly",
    "user_top_recommendations": "recommender",
}
for _name, _model in _MODEL_OF.items():
    FACTS[_name] = replace(FACTS[_name], model=_model)
#: The models whose versions decisions report, and the fact naming each version.
MODEL_VERSION_FACTS: dict[str, str] = {
    "sentiment": "sentiment_model_version",
    "anomaly": "anomaly_model_version",
    "recommender": "recommender_model_version",
}


def facts_for(trigger: str) -> frozenset[str]:
    """The names of the facts that exist on ``trigger``."""
    return frozenset(name for name, fact in FACTS.items() if trigger in fact.triggers)
