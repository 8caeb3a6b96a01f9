"""User activity: the user facts' definitions, their bounds, and facts with a pending event."""

from __future__ import annotations

import copy
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.schemas import ClickEvent, SaleEvent
from streams.users import DAY, UserActivity

T0 = 1_700_000_000.0
_ids = itertools.count()


def click(ts: float, action: str = "view", user: str = "u", product: str = "p") -> ClickEvent:
    return ClickEvent(
        event_id=f"c{next(_ids)}",
        ts=ts,
        user_id=user,
        product_id=product,
        action=action,  # type: ignore[arg-type]
    )


def sale(
    ts: float, user: str = "u", product: str = "p", quantity: int = 1, price: float | None = 10.0
) -> SaleEvent:
    return SaleEvent(
        event_id=f"s{next(_ids)}",
        ts=ts,
        user_id=user,
        product_id=product,
        quantity=quantity,
        price=price,
    )


def activity(*events: ClickEvent | SaleEvent, **params: float) -> UserActivity:
    users = UserActivity(**params)  # type: ignore[arg-type]
    for event in events:
        users.apply(event)
    return users


def test_views_count_since_the_last_purchase_within_a_day() -> None:
    users = activity(click(T0), click(T0 + 10), sale(T0 + 20), click(T0 + 30), click(T0 + 40))
    assert users.facts("u", "p", T0 + 50)["user_product_views"] == 2
    assert users.facts("u", "p", T0 + 35)["user_product_views"] == 1  # not views after now
    assert users.facts("u", "p", T0 + 30 + DAY)["user_product_views"] == 1  # T0 + 30 is a day old
    assert users.facts("u", "other", T0 + 50)["user_product_views"] == 0


def test_a_view_older_than_a_known_purchase_does_not_count() -> None:
    users = activity(sale(T0 + 100), click(T0 + 50))
    assert users.facts("u", "p", T0 + 200)["user_product_views"] == 0


def test_orders_and_value_are_lifetime() -> None:
    users = activity(
        sale(T0, quantity=2, price=5.0),
        sale(T0 + 1, product="q", price=None),
        sale(T0 + 3 * DAY, product="q", quantity=3, price=1.5),
    )
    f = users.facts("u", "q", T0 + 4 * DAY)
    assert (f["user_product_orders"], f["user_orders_total"], f["user_value_total"]) == (2, 3, 14.5)
    assert isinstance(f["user_value_total"], float)


def test_a_cart_is_abandoned_after_abandon_after_until_a_day_has_passed() -> None:
    users = activity(click(T0, "add_to_cart"), click(T0 + 60, "add_to_cart"))  # one cart
    abandoned = [
        users.facts("u", "p", T0 + dt)["user_carts_abandoned"]
        for dt in (0.0, 3_600.0, 3_660.0, DAY + 59, DAY + 60)
    ]
    assert abandoned == [0, 0, 1, 1, 0]


def test_buying_or_removing_ends_a_cart() -> None:
    users = activity(
        click(T0, "add_to_cart", product="a"),
        click(T0, "add_to_cart", product="b"),
        click(T0, "add_to_cart", product="c"),
        sale(T0 + 10, product="a"),
        click(T0 + 10, "remove_from_cart", product="b"),
    )
    assert users.facts("u", "a", T0 + 7_200)["user_carts_abandoned"] == 1  # c only
    assert (
        activity(click(T0 + 10, "add_to_cart"), sale(T0)).facts("u", "p", T0 + 7_200)[
            "user_carts_abandoned"
        ]
        == 1
    )  # a sale before the cart does not end it


def test_users_are_forgotten_least_recently_active_first() -> None:
    users = activity(click(T0, user="a"), click(T0, user="b"), click(T0, user="a"), max_users=2)
    users.apply(click(T0, user="c"))
    assert len(users) == 2
    assert users.facts("u", "p", T0)["user_product_views"] == 0
    assert users.facts("a", "p", T0 + 1)["user_product_views"] == 2
    assert users.facts("b", "p", T0 + 1)["user_product_views"] == 0  # forgotten


def test_products_and_views_per_user_are_bounded() -> None:
    users = activity(
        *(click(T0 + i, product=f"p{i}") for i in range(5)),
        *(click(T0 + 10 + i, product="p4") for i in range(30)),
        max_products=3,
        max_views=8,
    )
    assert users.facts("u", "p4", T0 + 100)["user_product_views"] == 8
    assert users.facts("u", "p0", T0 + 100)["user_product_views"] == 0  # forgotten
    assert users.facts("u", "p2", T0 + 100)["user_product_views"] == 1


def test_facts_of_an_unknown_user_are_zero() -> None:
    assert UserActivity().facts("nobody", "p", T0) == {
        "user_product_views": 0,
        "user_product_orders": 0,
        "user_carts_abandoned": 0,
        "user_orders_total": 0,
        "user_value_total": 0.0,
    }


_TS = st.floats(min_value=T0, max_value=T0 + 2 * DAY, allow_nan=False)
_USER, _PRODUCT = st.sampled_from(["u", "v"]), st.sampled_from(["p", "q", "r"])
_EVENT = st.one_of(
    st.builds(
        click,
        _TS,
        st.sampled_from(["view", "add_to_cart", "remove_from_cart", "favorite"]),
        _USER,
        _PRODUCT,
    ),
    st.builds(sale, _TS, _USER, _PRODUCT, st.integers(1, 3), st.none() | st.just(2.5)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_EVENT, max_size=40), _EVENT, _PRODUCT, st.floats(0, 2 * DAY))
def test_facts_with_a_pending_event_equal_facts_after_learning_it(
    events: list[ClickEvent | SaleEvent],
    pending: ClickEvent | SaleEvent,
    product: str,
    later: float,
) -> None:
    users = activity(*events)
    before = copy.deepcopy(users)
    now = pending.ts + later
    preview = users.facts(pending.user_id, product, now, pending=pending)
    users_after = copy.deepcopy(users)
    users_after.apply(pending)
    assert preview == users_after.facts(pending.user_id, product, now)
    assert users.facts(pending.user_id, product, now) == before.facts(pending.user_id, product, now)
