"""Queries: related products, aspects, neighbourhoods, walks, stats."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import networkx as nx
import pytest

from graph.export import to_networkx
from graph.knowledge import KnowledgeGraph
from graph.queries import (
    WALK_WEIGHTS,
    product_aspects,
    random_walk,
    related_products,
    stats,
    user_neighbourhood,
)
from tests.graph.records import Record, click, review, sale

T0 = 1.7e9


def test_related_products_rank_co_purchases_above_co_views() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None)
    g.apply(sale("u1", "p", T0))
    g.apply(sale("u1", "bought_with", T0 + 1))
    for user in ("u2", "u3"):
        g.apply(click(user, "p", T0 + 2))
        g.apply(click(user, "viewed_with", T0 + 3))
    g.apply(click("u4", "p", T0 + 4))
    g.apply(click("u4", "also_viewed", T0 + 5))
    related = related_products(g, "p", k=2)
    assert [r["product_id"] for r in related] == ["bought_with", "viewed_with"]
    assert related[0] == {
        "product_id": "bought_with",
        "score": 1.0,
        "co_bought": 1.0,
        "co_viewed": 0.0,
    }
    assert related[1]["co_viewed"] == 2.0
    assert related_products(g, "unknown") == [] and related_products(g, "p", k=0) == []


def test_product_aspects_split_praise_from_complaints() -> None:
    g = KnowledgeGraph(half_life=None)
    texts = [
        ("The battery is great.", 0.9),
        ("The battery lasts, the screen is dim.", -0.6),
        ("Great battery and a good price.", 0.8),
        ("The screen cracked.", -0.9),
    ]
    for i, (text, score) in enumerate(texts):
        g.apply(review(f"u{i}", "phone", T0 + i, text, score=score))
    answer = product_aspects(g, "phone")
    assert [a["aspect"] for a in answer["praised"]] == ["battery", "price"]
    assert [a["aspect"] for a in answer["complained"]] == ["screen"]
    battery = answer["praised"][0]
    assert (battery["mentions"], battery["positive"], battery["negative"]) == (3, 2, 1)
    assert battery["mean_sentiment"] == pytest.approx((0.9 - 0.6 + 0.8) / 3)
    assert answer["complained"][0]["mean_sentiment"] == pytest.approx(-0.75)
    assert product_aspects(g, "nothing")["aspects"] == 0


def test_user_neighbourhood_lists_products_and_categories() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None)
    g.apply(click("u", "a", T0, category_id="mugs"))
    g.apply(sale("u", "a", T0 + 1))
    g.apply(click("u", "b", T0 + 2, category_id="pens"))
    hood = user_neighbourhood(g, "u")
    assert hood["degree"] == 2
    assert hood["products"][0] == {"product_id": "a", "weight": 2.0, "viewed": 1.0, "bought": 1.0}
    assert hood["categories"] == [
        {"category_id": "mugs", "weight": 2.0},
        {"category_id": "pens", "weight": 1.0},
    ]
    assert user_neighbourhood(g, "nobody")["products"] == []


def exact_rp3beta(g: KnowledgeGraph, user: str, beta: float) -> dict[str, float]:
    """RP3beta without truncation, from the networkx export."""
    nxg = to_networkx(g)

    def step(mass: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for x, m in mass.items():
            links = [
                (y, WALK_WEIGHTS.get(k, 0.0) * d["weight"])
                for _, y, k, d in nxg.out_edges(x, keys=True, data=True)
            ]
            links += [
                (y, WALK_WEIGHTS.get(k, 0.0) * d["weight"])
                for y, _, k, d in nxg.in_edges(x, keys=True, data=True)
            ]
            links = [(y, w) for y, w in links if w > 0]
            total = sum(w for _, w in links)
            for y, w in links:
                out[y] += m * w / total
        return out

    start = f"user:{user}"
    users = step(step({start: 1.0}))
    users.pop(start, None)
    reached = step(users)
    seen = set(nxg.successors(start))
    degree = {
        p: sum(1 for _, _, k in nxg.in_edges(p, keys=True) if k in WALK_WEIGHTS) for p in reached
    }
    return {
        p.removeprefix("product:"): m / degree[p] ** beta
        for p, m in reached.items()
        if p not in seen
    }


def test_random_walk_equals_exact_rp3beta_when_nothing_is_truncated() -> None:
    rng = random.Random(5)
    g = KnowledgeGraph(half_life=3 * 3600.0, aspects=None)
    for i in range(400):
        user, product = f"u{rng.randrange(30)}", f"p{rng.randrange(40)}"
        if rng.random() < 0.3:
            g.apply(sale(user, product, T0 + 60 * i))
        else:
            g.apply(click(user, product, T0 + 60 * i, rng.choice(["view", "add_to_cart"])))
    exact = exact_rp3beta(g, "u3", beta=0.5)
    ours = dict(random_walk(g, "u3", k=100, beta=0.5, fanout=10_000, beam=10_000))
    assert ours.keys() == exact.keys() and len(ours) > 5
    for product, score in ours.items():
        assert score == pytest.approx(exact[product], rel=1e-9)


@pytest.mark.data
def test_random_walk_is_bounded_and_ordered(taobao: Callable[..., list[Record]]) -> None:
    g = KnowledgeGraph(half_life=86_400.0, aspects=None)
    for record in taobao():
        g.apply(record)
    users = [g.name(v) for v in range(len(g._names)) if g.kind(v) == 0][:300]
    walked = [random_walk(g, user, k=5) for user in users]
    assert sum(1 for w in walked if w) > 30
    for user, recs in zip(users, walked, strict=True):
        scores = [s for _, s in recs]
        assert scores == sorted(scores, reverse=True) and len(recs) <= 5
        seen = {g.name(g._dst[e]) for e in g.edges_of(g.node_id(0, user))}
        assert not seen & {p for p, _ in recs}


def test_stats_count_by_kind_and_type() -> None:
    g = KnowledgeGraph(half_life=60.0)
    g.apply(review("u", "p", T0, "The battery is great.", score=0.5, category_id="c"))
    s = stats(g)
    assert s["nodes"] == {"user": 1, "product": 1, "category": 1, "aspect": 1}
    assert s["edges"]["reviewed"] == s["edges"]["has_aspect"] == s["edges"]["in_category"] == 1
    assert s["edge_count"] == 3 and s["estimated_bytes"] > 0 and s["now"] == T0
    assert s["counters"]["applied"] == 1


def test_the_export_is_a_networkx_multidigraph_of_the_same_edges() -> None:
    g = KnowledgeGraph(half_life=None, aspects=None)
    g.apply(click("u", "a", T0))
    g.apply(sale("u", "a", T0 + 1, category_id="c"))
    nxg = to_networkx(g)
    assert isinstance(nxg, nx.MultiDiGraph) and nxg.number_of_edges() == g.n_edges == 3
    assert set(nxg["user:u"]["product:a"]) == {"viewed", "bought"}
