"""Decayed popularity: decay, exclusions, categories, bounds, ties and snapshots."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import popularity as popularity_module
from models.exceptions import (
    InvalidInputError,
    InvalidParameterError,
    InvalidStateError,
    ModelError,
)
from models.popularity import HEAD_SIZE, MAX_EXPONENT, DecayedPopularity

T0 = 1_700_000_000.0
HOUR = 3600.0


def json_round_trip(model: DecayedPopularity) -> DecayedPopularity:
    return DecayedPopularity.from_state(orjson.loads(orjson.dumps(model.to_state())))


def test_constructor_arguments_are_stored_under_their_names() -> None:
    model = DecayedPopularity(half_life=60.0, max_items=5, max_users=7)
    assert (model.half_life, model.max_items, model.max_users) == (60.0, 5, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"half_life": 0.0},
        {"half_life": -1.0},
        {"half_life": math.inf},
        {"half_life": math.nan},
        {"max_items": 0},
        {"max_items": 1.5},
        {"max_users": -1},
    ],
)
def test_bad_arguments_fail_fast(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        DecayedPopularity(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("weight", "ts"), [(-1.0, T0), (math.nan, T0), (math.inf, T0), (1.0, math.nan), (1.0, math.inf)]
)
def test_bad_interactions_are_rejected_and_change_nothing(weight: float, ts: float) -> None:
    model = DecayedPopularity()
    model.learn_one("u", "a", 1.0, T0)
    before = model.to_state()
    with pytest.raises(ModelError):
        model.learn_one("u", "b", weight, ts)
    assert model.to_state() == before


def test_score_halves_every_half_life() -> None:
    model = DecayedPopularity(half_life=HOUR)
    model.learn_one("u", "a", 8.0, T0)
    assert model.score("a") == 8.0
    model.learn_one("u", "b", 1.0, T0 + HOUR)
    assert model.score("a") == pytest.approx(4.0, rel=1e-12)
    model.learn_one("u", "b", 1.0, T0 + 3 * HOUR)
    assert model.score("a") == pytest.approx(1.0, rel=1e-12)
    assert model.score("b") == pytest.approx(1.0 + 0.25, rel=1e-12)
    assert model.score("unknown") == 0.0


def test_recent_interactions_outrank_older_heavier_ones() -> None:
    model = DecayedPopularity(half_life=HOUR)
    model.learn_one("u", "old", 3.0, T0)  # worth 0.75 two hours later
    model.learn_one("u", "new", 1.0, T0 + 2 * HOUR)
    assert model.rank(None) == [("new", 1.0), ("old", pytest.approx(0.75))]


def test_out_of_order_events_decay_from_their_own_time() -> None:
    model = DecayedPopularity(half_life=HOUR)
    model.learn_one("u", "a", 1.0, T0 + HOUR)
    model.learn_one("u", "b", 1.0, T0)
    assert model.score("b") == pytest.approx(0.5, rel=1e-12)


def test_rebase_keeps_scores_finite_and_exact() -> None:
    model = DecayedPopularity(half_life=1.0)
    model.learn_one("u", "a", 1.0, 0.0)
    model.learn_one("u", "b", 1.0, MAX_EXPONENT - 1)  # no rebase yet
    model.learn_one("u", "c", 1.0, 600.0)  # exponent 600 > MAX_EXPONENT: rebase
    assert model.to_state()["ref"] == 600.0
    assert model.score("c") == 1.0
    assert model.score("a") == pytest.approx(2.0**-600, rel=1e-12)
    assert model.score("b") == pytest.approx(2.0 ** (MAX_EXPONENT - 601), rel=1e-12)
    model.learn_one("u", "c", 1.0, 10_000.0)  # everything older underflows: forgotten
    assert model.rank(None) == [("c", 1.0)]
    assert len(model) == 1


def test_purchased_items_are_excluded_for_that_user_only() -> None:
    model = DecayedPopularity()
    model.learn_one("buyer", "a", 5.0, T0, purchased=True)
    model.learn_one("viewer", "b", 1.0, T0)
    assert [i for i, _ in model.rank("buyer")] == ["b"]
    assert [i for i, _ in model.rank("viewer")] == ["a", "b"]
    assert [i for i, _ in model.rank(None)] == ["a", "b"]
    assert model.purchases("buyer") == {"a"}


def test_exclude_and_k() -> None:
    model = DecayedPopularity()
    for weight, item in enumerate("abcde", start=1):
        model.learn_one("u", item, float(weight), T0)
    assert [i for i, _ in model.rank(None, k=2)] == ["e", "d"]
    assert [i for i, _ in model.rank(None, k=2, exclude=["e", "c"])] == ["d", "b"]
    assert model.rank(None, k=0) == []


def test_category_filter_follows_the_latest_category() -> None:
    model = DecayedPopularity()
    model.learn_one("u", "a", 3.0, T0, category_id="shoes")
    model.learn_one("u", "b", 2.0, T0, category_id="hats")
    model.learn_one("u", "c", 1.0, T0, category_id="shoes")
    model.learn_one("u", "d", 9.0, T0)  # no category known
    assert [i for i, _ in model.rank(None, category_id="shoes")] == ["a", "c"]
    model.learn_one("u", "a", 1.0, T0, category_id="hats")
    model.learn_one("u", "c", 1.0, T0)  # no category given: keeps "shoes"
    assert [i for i, _ in model.rank(None, category_id="shoes")] == ["c"]
    assert [i for i, _ in model.rank(None, category_id="hats")] == ["a", "b"]
    assert model.rank(None, category_id="none such") == []


def test_ties_are_broken_by_item_id_whatever_the_arrival_order() -> None:
    orders = [["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
    for order in orders:
        model = DecayedPopularity()
        for item in order:
            model.learn_one("u", item, 1.0, T0)
        assert model.rank(None) == [("a", 1.0), ("b", 1.0), ("c", 1.0)]


def test_pruning_keeps_the_strongest_items_within_max_items() -> None:
    model = DecayedPopularity(max_items=10)
    for n in range(11):  # item n has weight n + 1
        model.learn_one("u", f"i{n:02d}", float(n + 1), T0, category_id="c")
    assert len(model) == 9
    assert sorted(model.to_state()["scores"]) == [f"i{n:02d}" for n in range(2, 11)]
    assert len(model.rank(None, k=100, category_id="c")) == 9
    for n in range(100):
        model.learn_one("u", f"j{n}", 1.0, T0)
        assert len(model) <= 10


def test_oldest_buyers_are_forgotten_past_max_users() -> None:
    model = DecayedPopularity(max_users=2)
    model.learn_one("u1", "a", 1.0, T0, purchased=True)
    model.learn_one("u2", "a", 1.0, T0 + 1, purchased=True)
    model.learn_one("u1", "b", 1.0, T0 + 2, purchased=True)  # u1 is now the latest buyer
    model.learn_one("u3", "b", 1.0, T0 + 3, purchased=True)
    assert (model.purchases("u1"), model.purchases("u2")) == ({"a", "b"}, frozenset())
    assert sorted(i for i, _ in model.rank("u2")) == ["a", "b"]
    assert model.rank("u1") == []


def test_head_cache_agrees_with_a_full_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(popularity_module, "HEAD_SIZE", 4)
    model = DecayedPopularity(half_life=10.0)
    for n in range(200):  # later items grow past the cached head's cut
        model.learn_one("u", f"i{n % 37}", float(n % 5), T0 + n, purchased=n % 11 == 0)
        full = model.rank("u", k=5 + len(model.purchases("u")))  # too many for the head
        assert model.rank("u", k=3) == full[:3]
        assert model.rank(None, k=4) == model.rank(None, k=50)[:4]
    assert HEAD_SIZE >= 10


def test_an_item_tying_the_head_cut_joins_the_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(popularity_module, "HEAD_SIZE", 4)
    model = DecayedPopularity()
    for item, weight in [("a", 4.0), ("b", 3.0), ("c", 2.0), ("z", 1.0), ("e", 0.5)]:
        model.learn_one("u", item, weight, T0)
    assert [i for i, _ in model.rank(None, k=4)] == ["a", "b", "c", "z"]  # cut: 1.0
    model.learn_one("u", "e", 0.5, T0)  # e ties z at the cut and wins on its id
    assert [i for i, _ in model.rank(None, k=4)] == ["a", "b", "c", "e"]


def test_json_round_trip_is_exact() -> None:
    model = DecayedPopularity(half_life=HOUR, max_items=50, max_users=3)
    for n in range(60):
        model.learn_one(
            f"u{n % 4}",
            f"i{n % 13}",
            0.1 * n,
            T0 + 7.3 * n,
            category_id=f"c{n % 3}",
            purchased=n % 5 == 0,
        )
    restored = json_round_trip(model)
    assert restored.to_state() == model.to_state()
    assert restored.rank("u1", k=20) == model.rank("u1", k=20)
    for model_ in (model, restored):
        model_.learn_one("u9", "i1", 2.0, T0 + 1000, category_id="c2", purchased=True)
    assert orjson.dumps(restored.to_state()) == orjson.dumps(model.to_state())
    assert restored.rank(None, category_id="c2") == model.rank(None, category_id="c2")


def test_empty_model_round_trips_and_ranks_nothing() -> None:
    model = json_round_trip(DecayedPopularity())
    assert model.rank("u") == []
    assert model.to_state() == DecayedPopularity().to_state()


@pytest.mark.parametrize("state", [{}, {"version": 99}, {"version": 1, "half_life": 1.0}, []])
def test_from_state_rejects_what_to_state_did_not_write(state: object) -> None:
    with pytest.raises(InvalidStateError):
        DecayedPopularity.from_state(state)  # type: ignore[arg-type]


_INTERACTIONS = st.lists(
    st.tuples(
        st.sampled_from("uvw"),
        st.sampled_from("abcdefg"),
        st.sampled_from([0.0, 1.0, 2.5]),
        st.integers(0, 40),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(_INTERACTIONS)
def test_rank_equals_a_brute_force_recount(interactions: list[tuple]) -> None:
    half_life = 5.0  # 40 s spans 8 half-lives
    model = DecayedPopularity(half_life=half_life)
    for user, item, weight, ts, bought in interactions:
        model.learn_one(user, item, weight, float(ts), purchased=bought)
    now = max((ts for *_, ts, _ in interactions), default=0)
    score = {item: 0.0 for _, item, *_ in interactions}
    for _, item, weight, ts, _ in interactions:
        score[item] += weight * 2.0 ** ((ts - now) / half_life)
    bought = {item for user, item, *_, b in interactions if user == "u" and b}
    expected = sorted(
        ((i, s) for i, s in score.items() if i not in bought), key=lambda p: (-p[1], p[0])
    )
    got = model.rank("u", k=10)
    assert [i for i, _ in got] == [i for i, _ in expected] or _same_up_to_rounding(got, expected)
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9)


def _same_up_to_rounding(got: list, expected: list) -> bool:
    """Orders may differ only between scores equal to within float rounding."""
    return all(math.isclose(a[1], b[1], rel_tol=1e-9) for a, b in zip(got, expected, strict=True))


def test_exceptions_share_the_model_root() -> None:
    for error in (InvalidParameterError, InvalidInputError, InvalidStateError):
        assert issubclass(error, ModelError)


def test_large_category_rankings_equal_a_full_sort() -> None:
    """Large categories rank from a cached head (as the global ranking does): the answers
    must equal sorting every member, whatever arrives, moves category or is pruned."""
    import random

    rng = random.Random(5)
    model = DecayedPopularity(half_life=50.0, max_items=3_000)
    for step in range(20_000):
        item = f"i{rng.randrange(4_000)}"
        category = f"c{rng.randrange(2)}" if rng.random() > 0.01 else f"c{rng.randrange(3)}"
        model.learn_one("u", item, rng.choice([1.0, 3.0, 5.0]), step * 0.5, category_id=category)
        if step % 997 == 0:
            for cat in ("c0", "c1", "c2"):
                members = [i for i, c in model._category.items() if c == cat]
                want = sorted(members, key=lambda i: (-model.score(i), i))[:10]
                assert [i for i, _ in model.rank(None, 10, cat)] == want, (step, cat)


def test_forgotten_items_and_users_leave_rankings_heads_and_purchases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What an owner with its own bounds removes (``forget_item``, ``forget_user``) is gone
    from every ranking, cached heads included, as if it had never been learned."""
    monkeypatch.setattr(popularity_module, "HEAD_SIZE", 4)
    model, fresh = DecayedPopularity(), DecayedPopularity()
    for n in range(60):
        user, item = f"u{n % 4}", f"i{n % 13}"
        model.learn_one(user, item, float(n % 5), T0 + n, f"c{n % 2}", purchased=n % 7 == 0)
        if item not in ("i3", "i4"):  # the items forgotten below, never learned here
            fresh.learn_one(user, item, float(n % 5), T0 + n, f"c{n % 2}", n % 7 == 0)
    for cat in (None, "c0", "c1"):  # build the cached heads before forgetting
        model.rank(None, k=4, category_id=cat)
    head = model.rank(None, k=1)[0][0]
    assert head not in ("i3", "i4")
    for item in ("i3", "i4", head):
        model.forget_item(item, buyers=[f"u{n}" for n in range(4)])
        fresh.forget_item(item, buyers=[f"u{n}" for n in range(4)])
    model.forget_user("u0")
    fresh.forget_user("u0")
    ours, theirs = model.to_state(), fresh.to_state()
    bought = [{u: items for u, items in s.pop("bought") if items} for s in (ours, theirs)]
    assert ours == theirs and bought[0] == bought[1]  # the buyers' order aside
    for cat in (None, "c0", "c1"):
        assert model.rank("u1", k=4, category_id=cat) == fresh.rank("u1", k=50, category_id=cat)[:4]
    assert model.purchases("u0") == frozenset() and "i3" not in model.purchases("u1")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0]) | st.floats(0.0, 10.0),
        max_size=40,
    ),
    st.integers(-1, 50),
)
def test_the_best_are_what_a_heap_of_tuples_gives_ties_by_item(
    scores: dict[str, float], n: int
) -> None:
    import heapq
    from operator import neg

    expected = heapq.nsmallest(n, zip(map(neg, scores.values()), scores, strict=True))
    assert popularity_module._best(n, list(scores.values()), scores) == expected  # noqa: SLF001


@pytest.mark.parametrize("seed", range(4))
def test_rankings_between_interactions_equal_a_full_sort(seed: int) -> None:
    """Rankings asked between interactions (each pool's sorted items kept from the ranking
    before, with only the changed ones sorted in again) equal sorting every item each time,
    through category moves, head rebuilds, forgotten items and purchases."""
    import random

    rng = random.Random(seed)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(popularity_module, "HEAD_SIZE", 6)
        model = DecayedPopularity(half_life=20.0)
        for step in range(6_000):
            roll = rng.random()
            if roll < 0.6:
                category = rng.choice(["c0", "c1", "c2", None])
                model.learn_one(
                    rng.choice("uv"),
                    f"i{rng.randrange(40)}",
                    rng.choice([0.0, 1.0, 3.0, 5.0]),
                    T0 + step * rng.choice([0.0, 1.0]),
                    category,
                    purchased=rng.random() < 0.1,
                )
            elif roll < 0.62:
                model.forget_item(f"i{rng.randrange(40)}", buyers=["u", "v"])
            else:
                k, cat = rng.randrange(9), rng.choice(["c0", "c1", "c2", None])
                user = rng.choice(["u", None])
                skip = model.purchases("u") if user else frozenset()
                scores, category_of = model._scores, model._category  # noqa: SLF001 - the truth
                pool = [i for i in scores if cat is None or category_of.get(i) == cat]
                want = sorted((i for i in pool if i not in skip), key=lambda i: (-scores[i], i))
                assert [i for i, _ in model.rank(user, k, cat)] == want[:k], (step, k, cat)
