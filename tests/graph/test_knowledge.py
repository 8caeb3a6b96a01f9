"""apply(): one feedback record at a time, by the rules of graph.knowledge."""

from __future__ import annotations

import pytest

from graph.exceptions import InvalidEventError, InvalidParameterError
from graph.export import edge_data
from graph.knowledge import KnowledgeGraph
from graph.queries import product_aspects
from graph.schema import (
    BOUGHT,
    CARTED,
    CATEGORY,
    CO_BOUGHT,
    CO_VIEWED,
    HAS_ASPECT,
    IN_CATEGORY,
    PRODUCT,
    REVIEWED,
    USER,
    VIEWED,
)
from tests.graph.records import click, review, sale

T0 = 1.7e9


def edge(g: KnowledgeGraph, etype: int, a: tuple[int, str], b: tuple[int, str]) -> dict | None:
    u, v = g.node_id(*a), g.node_id(*b)
    e = None if u is None or v is None else g.edge_id(etype, u, v)
    return None if e is None else edge_data(g, e)


def test_clicks_make_typed_weighted_edges() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None)
    for action in ("view", "favorite", "add_to_cart", "add_to_cart", "remove_from_cart"):
        g.apply(click("u", "p", T0, action, category_id="c"))
    viewed = edge(g, VIEWED, (USER, "u"), (PRODUCT, "p"))
    carted = edge(g, CARTED, (USER, "u"), (PRODUCT, "p"))
    assert viewed is not None and (viewed["weight"], viewed["count"]) == (3.0, 2)
    assert carted is not None and (carted["weight"], carted["count"]) == (1.0, 3)
    assert edge(g, IN_CATEGORY, (PRODUCT, "p"), (CATEGORY, "c"))["count"] == 5  # type: ignore[index]


def test_co_views_link_recent_products_within_the_window() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None, co_window=60.0, co_recent=2)
    for i, product in enumerate(["a", "b", "c", "d"]):
        g.apply(click("u", product, T0 + i))
    g.apply(click("u", "e", T0 + 200))  # the others are older than the window
    pairs = {("a", "b"), ("a", "c"), ("b", "c"), ("b", "d"), ("c", "d")}
    for x, y in pairs:
        assert edge(g, CO_VIEWED, (PRODUCT, x), (PRODUCT, y)) is not None
        assert edge(g, CO_VIEWED, (PRODUCT, y), (PRODUCT, x)) is not None  # either way round
    assert edge(g, CO_VIEWED, (PRODUCT, "a"), (PRODUCT, "d")) is None  # only the 2 latest
    assert g.type_counts[CO_VIEWED] == len(pairs)


def test_sales_sum_quantities_and_link_co_purchases() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None)
    g.apply(sale("u", "a", T0, quantity=3))
    g.apply(sale("u", "a", T0 + 1, quantity=2))
    g.apply(sale("u", "b", T0 + 2))
    bought = edge(g, BOUGHT, (USER, "u"), (PRODUCT, "a"))
    assert bought is not None and (bought["count"], bought["quantity"]) == (2, 5.0)
    assert edge(g, CO_BOUGHT, (PRODUCT, "a"), (PRODUCT, "b"))["count"] == 1  # type: ignore[index]


def test_reviews_carry_sentiment_rating_and_aspects() -> None:
    g = KnowledgeGraph(half_life=None)
    g.apply(review("u1", "p", T0, "The battery is great.", score=0.9, rating=5))
    g.apply(review("u2", "p", T0 + 1, "Terrible battery, it died.", score=-0.7))
    g.apply(review("u3", "p", T0 + 2, "电池不错", rating=4, lang="zh"))
    reviewed = edge(g, REVIEWED, (USER, "u1"), (PRODUCT, "p"))
    assert reviewed is not None and (reviewed["sentiment_sum"], reviewed["rating"]) == (0.9, 5.0)
    battery = edge(g, HAS_ASPECT, (PRODUCT, "p"), (3, "battery"))
    assert battery is not None
    assert (battery["count"], battery["positive"], battery["negative"]) == (2, 1, 1)
    assert battery["sentiment_sum"] == pytest.approx(0.2)
    zh = edge(g, HAS_ASPECT, (PRODUCT, "p"), (3, "电池"))
    assert zh is not None and zh["sentiment_sum"] == 0.5  # rating 4 -> (4 - 3) / 2
    assert g.counters["aspect_mentions"] == 3


def test_a_review_carrying_its_aspects_is_not_extracted_again() -> None:
    g = KnowledgeGraph(half_life=None)
    carried = review("u1", "p", T0, "The battery is great.", score=0.9)
    g.apply({**carried, "aspects": ["screen", "sound quality"]})
    assert edge(g, HAS_ASPECT, (PRODUCT, "p"), (3, "screen")) is not None
    assert edge(g, HAS_ASPECT, (PRODUCT, "p"), (3, "sound quality")) is not None
    assert edge(g, HAS_ASPECT, (PRODUCT, "p"), (3, "battery")) is None, "taken, not extracted"
    unreadable = [[1], ["x" * 101], [""], "battery", None]
    for i, aspects in enumerate(unreadable):  # extracted from the text instead
        g.apply({**review(f"v{i}", f"q{i}", T0, "The battery is great."), "aspects": aspects})
        assert edge(g, HAS_ASPECT, (PRODUCT, f"q{i}"), (3, "battery")) is not None, aspects
    own = KnowledgeGraph(half_life=None, aspects=lambda text, lang: [("lens", text)])
    own.apply({**carried, "aspects": ["screen"]})  # another extractor: its own aspects
    assert edge(own, HAS_ASPECT, (PRODUCT, "p"), (3, "lens")) is not None
    assert edge(own, HAS_ASPECT, (PRODUCT, "p"), (3, "screen")) is None
    none = KnowledgeGraph(half_life=None, aspects=None)
    none.apply({**carried, "aspects": ["screen"]})
    assert none.counters["aspect_mentions"] == 0


def test_carried_clause_scores_give_each_aspect_its_own_sentiment() -> None:
    g = KnowledgeGraph(half_life=None)
    text = "Great screen, but the battery dies in an hour."
    mixed = {**review("u1", "p", T0, text, score=-0.2), "aspects": ["screen", "battery"]}
    g.apply({**mixed, "aspect_scores": [0.6, -0.7]})
    answer = product_aspects(g, "p")
    assert [r["aspect"] for r in answer["praised"]] == ["screen"]
    assert [(r["aspect"], r["mean_sentiment"]) for r in answer["complained"]] == [("battery", -0.7)]
    unusable = [[0.6], [0.6, 2.0], [0.6, True], [0.6, float("nan")], "x", None]
    for i, scores in enumerate(unusable):  # the review's own score for every aspect
        g.apply(
            {
                **mixed,
                "event": {**mixed["event"], "event_id": f"m{i}", "product_id": f"q{i}"},
                "aspect_scores": scores,
            }
        )
        rows = product_aspects(g, f"q{i}")
        assert rows["praised"] == [] and len(rows["complained"]) == 2, scores
    g.apply(
        {
            **mixed,
            "event": {**mixed["event"], "event_id": "n", "product_id": "n"},
            "aspect_scores": [None, -0.9],
        }
    )  # a clause without a score: the review's
    assert {r["aspect"]: r["mean_sentiment"] for r in product_aspects(g, "n")["complained"]} == {
        "screen": -0.2,
        "battery": -0.9,
    }
    extracting = {**mixed, "aspects": None, "aspect_scores": [0.6, -0.7]}
    g.apply({**extracting, "event": {**mixed["event"], "event_id": "x", "product_id": "x"}})
    assert product_aspects(g, "x")["praised"] == [], "scores go with carried aspects only"


def test_products_link_categories_and_nothing_else() -> None:
    g = KnowledgeGraph(half_life=None)
    g.apply(
        {
            "topic": "products",
            "event": {"event_id": "p1", "ts": T0, "product_id": "p", "name": "Mug", "price": 3.5},
        }
    )
    assert g.n_nodes == 0  # a node without edges carries nothing
    g.apply(
        {
            "topic": "products",
            "event": {"event_id": "p2", "ts": T0, "product_id": "p", "category_id": "kitchen"},
        }
    )
    assert edge(g, IN_CATEGORY, (PRODUCT, "p"), (CATEGORY, "kitchen")) is not None


def test_repeated_event_ids_are_skipped_within_the_window() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None, dedup_ids=2)
    first = click("u", "p", T0)
    assert g.apply(first) is True
    assert g.apply(first) is False
    g.apply(click("u", "q", T0))
    g.apply(click("u", "r", T0))
    assert g.apply(first) is True  # forgotten: only the last 2 ids are remembered
    assert g.counters["duplicates"] == 1 and g.counters["applied"] == 4


@pytest.mark.parametrize(
    "record",
    [
        {"event": {}},
        {"topic": "orders", "event": {"event_id": "x", "ts": T0}},
        {"topic": "clicks", "event": {"event_id": "x", "ts": "soon", "user_id": "u"}},
        {"topic": "clicks", "event": {"event_id": "x", "ts": float("nan")}},
        {
            "topic": "clicks",
            "event": {
                "event_id": "x",
                "ts": T0,
                "user_id": "u",
                "product_id": "p",
                "action": "jump",
            },
        },
        {"topic": "sales", "event": {"event_id": "x", "ts": T0, "user_id": "u"}},
        {
            "topic": "reviews",
            "event": {"event_id": "x", "ts": T0, "user_id": "u", "product_id": "p"},
        },
    ],
)
def test_unreadable_records_raise_and_change_nothing(record: dict) -> None:
    g = KnowledgeGraph(half_life=3600.0)
    g.apply(click("u0", "p0", T0 - 10))
    before = (g.n_nodes, g.n_edges, g.now, dict(g.counters))
    with pytest.raises(InvalidEventError):
        g.apply(record)
    assert (g.n_nodes, g.n_edges, g.now, dict(g.counters)) == before
    assert g.apply(click("u", "p", T0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"half_life": 0.0},
        {"min_weight": -1.0},
        {"max_edges": 5},
        {"max_bytes": 10},
        {"prune_every": 0},
        {"co_recent": -1},
        {"max_nodes": 2**29},
    ],
)
def test_bad_parameters_fail_fast_naming_the_parameter(kwargs: dict) -> None:
    with pytest.raises(InvalidParameterError, match=next(iter(kwargs))):
        KnowledgeGraph(**kwargs)


def test_type_codes_keep_the_order_the_store_relies_on() -> None:
    from graph.schema import CO_EDGES, EDGE_TYPES, INTERACTIONS

    assert max(INTERACTIONS) < min(set(range(len(EDGE_TYPES))) - INTERACTIONS)
    assert min(CO_EDGES) == len(EDGE_TYPES) - len(CO_EDGES)
