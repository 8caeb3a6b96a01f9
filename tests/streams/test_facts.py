"""Facts built from state: the catalogue's names and types, and the default rules on them."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rules import DEFAULT_RULES, MemoryStore, RuleSet, load_rules
from rules.facts import FACTS, facts_for
from streams.facts import (
    PRODUCT_GROUPS,
    build_facts,
    builder,
    lazy_facts,
    tick_facts,
)
from streams.mentions import Mention
from streams.metrics import Metrics
from streams.replica import FeedbackReplica
from streams.schemas import ClickEvent, InputEvent, ProductEvent, ReviewEvent, SaleEvent
from streams.scoring import Sentiment
from streams.settings import Settings
from streams.state import ProductState
from streams.users import UserActivity

#: The start of an hour.
T0 = 1_699_999_200.0
_ids = itertools.count()
BOX, LID = Mention("box", 0.5, False), Mention("lid", -0.8, True)
_TYPES: dict[str, type | tuple[type, ...]] = {"int": int, "float": float, "str": str, "bool": bool}


class Shop:
    """One product's state and every user's activity, fed the way Pulse feeds them."""

    def __init__(self) -> None:
        self.state, self.users = ProductState(), UserActivity()
        self.rules: RuleSet = load_rules(DEFAULT_RULES)
        self.store = MemoryStore()

    def event(self, kind: str, ts: float, user: str = "u1", **fields: Any) -> InputEvent:
        eid = f"{kind}-{next(_ids)}"
        if kind == "product":
            return ProductEvent(event_id=eid, ts=ts, product_id="p1", **fields)
        model = {"click": ClickEvent, "sale": SaleEvent, "review": ReviewEvent}[kind]
        return model(event_id=eid, ts=ts, user_id=user, product_id="p1", **fields)

    def facts(
        self,
        event: InputEvent,
        sentiment: Sentiment | None = None,
        mentions: list[Mention] | None = None,
    ) -> dict[str, Any]:
        """Apply ``event``, then build its facts (user facts count it as pending)."""
        self.state.apply(event)
        if sentiment is not None:
            self.state.apply_sentiment(event.ts, sentiment.score, sentiment.label == "negative")
        if mentions:
            self.state.apply_complaints(event.ts, [m.aspect for m in mentions if m.negative])
        user = None
        if not isinstance(event, ProductEvent):
            user = self.users.facts(event.user_id, event.product_id, event.ts, pending=event)
            self.users.apply(event)  # later, through the feedback log
        trigger = type(event).__name__.removesuffix("Event").lower()
        versions = {"sentiment": "sent-1", "recommender": "pop-1"}
        return build_facts(
            trigger, event, self.state, sentiment, user=user, versions=versions, mentions=mentions
        )

    def decided(
        self,
        kind: str,
        ts: float,
        sentiment: Sentiment | None = None,
        mentions: list[Mention] | None = None,
        **fields: Any,
    ) -> list[Any]:
        facts = self.facts(self.event(kind, ts, **fields), sentiment, mentions)
        return list(self.rules.evaluate(kind, facts, self.store, now=ts))

    def fired(
        self, kind: str, ts: float, sentiment: Sentiment | None = None, **fields: Any
    ) -> list[str]:
        return [d.rule_id for d in self.decided(kind, ts, sentiment, **fields)]

    def feed(self, kind: str, times: list[float], **fields: Any) -> None:
        for ts in times:
            self.facts(self.event(kind, ts, **fields))


def busy_shop() -> Shop:
    """Two days of steady trade: 20 views and 2 one-unit sales an hour, some reviews."""
    shop = Shop()
    shop.facts(
        shop.event("product", T0, price=20.0, stock=10_000, lead_time_days=2.0, category_id="c1")
    )
    for h in range(48):
        start = T0 + h * 3600
        shop.feed("click", [start + 60 + 170 * i for i in range(20)], user=f"v{h}", action="view")
        shop.feed("sale", [start + 900, start + 2700], user=f"b{h}", price=20.0)
        if h % 4 == 0:
            review = shop.event("review", start + 100, user=f"r{h}", text="nice", rating=5)
            shop.facts(review, Sentiment(0.7, "positive", 0.9, "sent-1"))  # type: ignore[arg-type]
    return shop


def assert_catalogued(trigger: str, facts: dict[str, Any]) -> None:
    allowed = facts_for(trigger)
    assert set(facts) <= allowed, f"not on {trigger}: {sorted(set(facts) - allowed)}"
    for name, value in facts.items():
        declared = FACTS[name].type
        if value is None:
            continue
        if declared == "list[str]":
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), name
        else:
            assert isinstance(value, _TYPES[declared]) and not (
                declared != "bool" and isinstance(value, bool)
            ), f"{name}: {value!r} is not {declared}"


def all_triggers(shop: Shop, ts: float) -> dict[str, dict[str, Any]]:
    angry = Sentiment(-0.9, "negative", 0.95, "sent-2")
    review = shop.event("review", ts, text="Nice box, the lid broke", rating=1, lang="en")
    return {
        "review": shop.facts(review, angry, [BOX, LID]),
        "click": shop.facts(shop.event("click", ts, action="add_to_cart", session_id="s")),
        "sale": shop.facts(shop.event("sale", ts, quantity=2, price=19, order_id="o")),
        "product": shop.facts(shop.event("product", ts, stock=7)),
        "tick": tick_facts(
            "p1", shop.state, ts + 30, versions={"sentiment": "s", "recommender": "r"}
        ),
    }


@pytest.mark.parametrize("history", ["busy", "new"])
def test_facts_have_the_catalogue_names_and_types(history: str) -> None:
    shop = busy_shop() if history == "busy" else Shop()
    for trigger, facts in all_triggers(shop, T0 + 48 * 3600 + 10).items():
        assert_catalogued(trigger, facts)
        # recommendations come from the replica (test_builder_...); a new product has no category
        missing = facts_for(trigger) - set(facts) - {"user_top_recommendations"}
        assert missing <= ({"category_id"} if history == "new" else set()), sorted(missing)


def test_busy_product_facts_have_values() -> None:
    facts = all_triggers(busy_shop(), T0 + 48 * 3600 + 10)
    sale, review = facts["sale"], facts["review"]
    assert (sale["views_24h"], sale["orders_24h"], sale["units_24h"]) == (460, 47, 48)
    assert sale["conversion_24h"] == pytest.approx(47 / 460)
    assert (sale["sale_amount"], sale["revenue_1h"], sale["stock"]) == (38.0, 78.0, 9_902)
    assert sale["category_id"] == "c1" and sale["lead_time_days"] == 2.0
    assert 0.0 <= sale["anomaly_score"] < 0.5
    assert (
        review["sentiment_model_version"] == "sent-2"
        and sale["sentiment_model_version"] == "sent-1"
    )
    assert review["review_rating"] == 1 and review["rating_avg"] == pytest.approx(61 / 13)
    assert facts["tick"]["event_id"] == f"tick:p1:{int((T0 + 48 * 3600 + 40) // 60)}"
    assert facts["product"]["stock"] == 7


def test_a_new_product_has_unknowns_not_zeros() -> None:
    shop = Shop()
    facts = shop.facts(shop.event("click", T0, action="view"))
    assert facts["user_product_views"] == 1 and facts["views_1h"] == 1
    for name in (
        "price",
        "stock",
        "lead_time_days",
        "rating_avg",
        "anomaly_score",
        "sentiment_avg_1h",
    ):
        assert facts[name] is None, name
    assert facts["conversion_24h"] == 0.0 and facts["sentiment_count_24h"] == 0
    sale = shop.facts(shop.event("sale", T0 + 1))
    assert (
        sale["conversion_1h"] == 1.0 and sale["sale_price"] is None and sale["sale_amount"] == 0.0
    )
    assert shop.facts(shop.event("product", T0 + 2, price=5))["conversion_1h"] == 1.0
    other = Shop()
    assert other.facts(other.event("sale", T0))["conversion_24h"] is None  # no views


def test_a_mismatched_trigger_is_refused() -> None:
    shop = Shop()
    with pytest.raises(ValueError, match="not a 'sale' trigger"):
        build_facts("sale", shop.event("click", T0, action="view"), shop.state)


def test_default_rules_escalate_an_angry_review_only() -> None:
    shop = busy_shop()
    ts = T0 + 48 * 3600 + 10
    angry, glad = Sentiment(-0.9, "negative", 0.95, "s"), Sentiment(0.8, "positive", 0.9, "s")
    assert shop.fired("review", ts, angry, user="x", text="broke", rating=1) == [
        "escalate_angry_review"
    ]
    assert shop.fired("review", ts, glad, user="y", text="great", rating=5) == []
    assert shop.fired("review", ts, angry, user="z", text="meh", rating=4) == []


def test_a_review_s_aspects_and_the_product_s_most_blamed_one_are_facts() -> None:
    facts = all_triggers(busy_shop(), T0 + 48 * 3600 + 10)
    review = facts["review"]
    assert (review["review_aspects"], review["review_negative_aspects"]) == (
        ["box", "lid"],
        ["lid"],
    )
    for trigger in ("review", "click", "sale", "product", "tick"):
        got = [facts[trigger][f"aspect_top_negative{s}"] for s in ("", "_1h", "_hourly_24h")]
        assert got == ["lid", 1, 1 / 24], trigger
    shop = busy_shop()
    click = shop.facts(shop.event("click", T0 + 48 * 3600, action="view"))
    assert (click["aspect_top_negative"], click["aspect_top_negative_1h"]) == (None, 0)
    assert click["aspect_top_negative_hourly_24h"] is None and "review_aspects" not in click


def complain(shop: Shop, ts: float, aspect: str = "battery", user: str = "c") -> list[Any]:
    """A review that is positive overall and blames ``aspect`` in one clause."""
    glad = Sentiment(0.4, "positive", 0.7, "s")
    mentions = [Mention("screen", 0.8, False), Mention(aspect, -0.7, True)]
    return shop.decided("review", ts, glad, mentions, user=user, text="...", rating=4)


def test_default_rules_alert_on_a_spike_of_complaints_about_one_aspect() -> None:
    shop = busy_shop()
    ts = T0 + 48 * 3600 + 10
    for i in range(4):
        assert complain(shop, ts + i, user=f"c{i}") == []
    (alert,) = complain(shop, ts + 4, user="c4")
    assert (alert.rule_id, alert.action, alert.params["topic"]) == (
        "alert_aspect_complaints",
        "alert",
        "battery",
    )
    assert alert.reason.startswith("5 complaints about 'battery' on product p1 in the last hour")
    assert complain(shop, ts + 5, user="c5") == [], "cooldown"
    praise = [Mention("battery", 0.9, False)]
    glad = Sentiment(0.9, "positive", 0.9, "s")
    other = busy_shop()
    for i in range(8):
        decided = other.decided("review", ts + i, glad, praise, user=f"g{i}", text=".", rating=5)
        assert decided == [], "praise is not a complaint"


def test_steady_complaints_are_not_a_spike() -> None:
    shop = busy_shop()
    start = T0 + 48 * 3600
    for h in range(24):  # three complaints an hour for a day
        for i in range(3):
            shop.facts(
                shop.event("review", start + h * 3600 + 600 * i, user=f"s{h}-{i}", text="."),
                Sentiment(0.4, "positive", 0.7, "s"),
                [Mention("battery", -0.7, True)],
            )
    ts = start + 24 * 3600 + 10
    fired = [complain(shop, ts + i, user=f"c{i}") for i in range(6)]
    # the last hour holds 23:10 and 23:20, then these six: 8 < 3 x (23 x 3 + 6) / 24
    assert fired == [[]] * 6
    # two more: 10 >= 3 x (23 x 3 + 8) / 24, a spike after all
    later = [[d.rule_id for d in complain(shop, ts + 10 + i, user=f"d{i}")] for i in range(2)]
    assert later == [[], ["alert_aspect_complaints"]]


@pytest.mark.parametrize(("stock", "fires"), [(80, True), (200, False)])
def test_restock_when_stock_is_below_a_lead_time_of_sales(stock: int, fires: bool) -> None:
    shop = busy_shop()  # 46 units in the 24 h window x lead time 2 days: 92 units needed
    ts = T0 + 48 * 3600 + 10
    assert shop.fired("product", ts, stock=stock) == (["restock_low_stock"] if fires else [])


def test_restock_needs_some_orders() -> None:
    shop = Shop()
    shop.facts(shop.event("product", T0, stock=1, lead_time_days=30.0))
    assert shop.fired("sale", T0 + 1, user="a") == []
    assert shop.fired("sale", T0 + 2, user="b") == []
    assert shop.fired("sale", T0 + 3, user="c") == ["restock_low_stock"]


@pytest.mark.parametrize(("orders", "fires"), [(1, True), (10, False)])
def test_price_review_when_many_view_and_few_buy(orders: int, fires: bool) -> None:
    shop = Shop()
    shop.facts(shop.event("product", T0, price=99.0, stock=10**6))
    shop.feed("sale", [T0 + 10 + i for i in range(orders)], user="buyer")
    shop.feed("click", [T0 + 100 + 60 * i for i in range(599)], user="v", action="view")
    fired = shop.fired("click", T0 + 100 + 60 * 600, user="w", action="view")
    assert fired == (["review_price_low_conversion"] if fires else [])


def test_win_back_on_the_third_view_without_a_purchase() -> None:
    shop = Shop()
    views = [shop.fired("click", T0 + 60 * i, user="h", action="view") for i in range(3)]
    assert views == [[], [], ["win_back_hesitant_user"]]
    shop.fired("sale", T0 + 500, user="k")
    assert [shop.fired("click", T0 + 600 + i, user="k", action="view") for i in range(3)] == [
        [],
        [],
        [],
    ]


def test_a_sales_spike_is_investigated_and_steady_sales_are_not() -> None:
    shop = busy_shop()
    ts = T0 + 48 * 3600 + 60
    assert shop.fired("sale", ts, user="steady") == []
    fired = [shop.fired("sale", ts + 1 + i, user=f"rush{i}") for i in range(40)]
    assert ["investigate_sales_anomaly"] in fired


def test_builder_takes_user_facts_and_versions_from_the_replica() -> None:
    replica = FeedbackReplica(Settings(), "127.0.0.1:1", Metrics(CollectorRegistry()))
    build = builder(replica, sentiment_version=lambda: "sent-9", recommendations=3)
    state, event = (
        ProductState(),
        ClickEvent(event_id="c", ts=T0, user_id="u", product_id="p1", action="view"),
    )
    state.apply(event)
    facts = build("click", event, state, None)
    assert_catalogued("click", facts)
    assert facts["user_product_views"] == 1 and facts["user_top_recommendations"] == []
    assert (facts["sentiment_model_version"], facts["recommender_model_version"]) == (
        "sent-9",
        replica.recommender_version,
    )
    product = ProductEvent(event_id="pe", ts=T0, product_id="p1", stock=3)
    assert "user_id" not in build("product", product, state, None)


def test_top_recommendations_are_ranked_only_when_a_rule_reads_them() -> None:
    replica = FeedbackReplica(Settings(), "127.0.0.1:1", Metrics(CollectorRegistry()))
    asked: list[tuple[str, int]] = []
    replica.top_items = lambda user, k: asked.append((user, k)) or ["p9"]  # type: ignore[method-assign]
    build = builder(replica, recommendations=4)
    rules, store, state = load_rules(DEFAULT_RULES), MemoryStore(), ProductState()

    def view(i: int) -> list[Any]:
        event = ClickEvent(event_id=f"v{i}", ts=T0 + i, user_id="u", product_id="p1", action="view")
        state.apply(event)
        return rules.evaluate("click", build("click", event, state, None), store, T0 + i)

    assert [view(0), view(1)] == [[], []] and asked == [], "no rule fired: nothing ranked"
    (decision,) = view(2)  # the third view wins the user back, with recommendations
    assert decision.rule_id == "win_back_hesitant_user"
    assert decision.params["recommendations"] == ["p9"] and asked == [("u", 4)]
    assert view(3) == [] and asked == [("u", 4)], "cooling down: nothing ranked"
    facts = build(
        "click",
        ClickEvent(event_id="x", ts=T0, user_id="w", product_id="p1", action="view"),
        state,
        None,
    )
    assert facts.get("user_top_recommendations") == ["p9"] == facts["user_top_recommendations"]
    assert asked[1:] == [("w", 4)], "computed once, on the first read"


@pytest.mark.parametrize("history", ["busy", "new"])
def test_lazy_facts_read_as_the_built_ones(history: str) -> None:
    shop = busy_shop() if history == "busy" else Shop()
    ts, absent = T0 + 48 * 3600 + 10, object()
    versions = {"sentiment": "sent-1", "recommender": "pop-1"}
    events = [
        (
            shop.event("review", ts, text="lid broke", rating=1),
            Sentiment(-0.9, "negative", 0.9, "s2"),
        ),
        (shop.event("click", ts + 1, action="view", session_id="s"), None),
        (shop.event("sale", ts + 2, quantity=2, price=19, order_id="o", category_id="c9"), None),
        (shop.event("product", ts + 3, stock=7), None),
    ]
    for event, sentiment in events:
        shop.state.apply(event)
        mentions = None
        if sentiment is not None:
            shop.state.apply_sentiment(event.ts, sentiment.score, True)
            shop.state.apply_complaints(event.ts, ["lid"])
            mentions = [LID]
        trigger = type(event).__name__.removesuffix("Event").lower()
        user = None
        if not isinstance(event, ProductEvent):
            user = shop.users.facts(event.user_id, event.product_id, event.ts, pending=event)
        built = build_facts(
            trigger, event, shop.state, sentiment, user=user, versions=versions, mentions=mentions
        )
        lazy = lazy_facts(
            trigger,
            event,
            shop.state,
            sentiment,  # type: ignore[arg-type]
            user=None if user is None else lambda u=user: u,  # type: ignore[misc]
            versions=versions,
            mentions=mentions,
        )
        assert not set(lazy) & set(PRODUCT_GROUPS["windows"]), "nothing computed before a read"
        for name in sorted(FACTS):
            assert lazy.get(name, absent) == built.get(name, absent), (trigger, name)
        assert dict(lazy) == built, trigger
        if not isinstance(event, ProductEvent):
            shop.users.apply(event)


def test_a_click_s_rules_compute_only_the_facts_they_read() -> None:
    shop = busy_shop()
    replica = FeedbackReplica(Settings(), "127.0.0.1:1", Metrics(CollectorRegistry()))
    build = builder(replica)
    event = shop.event("click", T0 + 48 * 3600 + 10, action="add_to_cart")
    shop.state.apply(event)
    facts = build("click", event, shop.state, None)
    assert shop.rules.evaluate("click", facts, shop.store, event.ts) == []
    computed = set(facts)
    assert "views_1h" in computed and "conversion_24h" in computed  # the click rules read them
    assert not computed & set(PRODUCT_GROUPS["sentiment"] + PRODUCT_GROUPS["totals"])
    assert "user_product_views" not in computed  # win-back reads them for views only
