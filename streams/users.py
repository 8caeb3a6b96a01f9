"""What each user did lately, for the rules' user facts; fed one event at a time. No Faust.

Definitions, with ``now`` the trigger's event time and a day 86,400 s:

* ``user_product_views``: the user's views of the product in ``(now - 1 day, now]``
  after their latest purchase of it (the newest ``max_views`` are kept).
* ``user_product_orders``: the user's sales of the product.
* ``user_carts_abandoned``: products whose latest ``add_to_cart`` by the user
  lies in ``(now - 1 day, now - abandon_after]`` and that the user has neither
  bought nor removed from the cart since (several adds of one product are one
  cart). A cart younger than ``abandon_after`` (1 h) is not abandoned yet.
* ``user_orders_total``, ``user_value_total``: the user's sales, and their value
  (quantity x price; 0 without a price).

Counts that say *lifetime* are since the user was last forgotten: past
``max_users`` users, the least recently active is forgotten; past
``max_products`` products of one user, the product the user touched least
recently is. Given the same events in the same order, the facts are the same.
Memory: about 1.5 KB for a user with a handful of products, at most about
6.5 KB with the defaults (20 products x 10 views), so ~150 MB to ~650 MB at
``max_users=100_000``.

>>> u = UserActivity()
>>> for action, ts in [("view", 0.0), ("view", 60.0), ("add_to_cart", 90.0)]:
...     u.learn_one("u1", "p1", action, 1e9 + ts)
>>> u.facts("u1", "p1", 1e9 + 120)["user_product_views"]
2
>>> u.facts("u1", "p1", 1e9 + 7200)["user_carts_abandoned"]
1
>>> u.learn_one("u1", "p1", "sale", 1e9 + 7300, amount=25.0)
>>> f = u.facts("u1", "p1", 1e9 + 7400)
>>> f["user_product_views"], f["user_carts_abandoned"], f["user_value_total"]
(0, 0, 25.0)
"""

from __future__ import annotations

import bisect
import sys
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from streams.schemas import ClickEvent, InputEvent, SaleEvent

DAY = 86_400.0
#: The facts :meth:`UserActivity.facts` gives.
USER_FACTS = (
    "user_product_views",
    "user_product_orders",
    "user_carts_abandoned",
    "user_orders_total",
    "user_value_total",
)
_NEVER = float("-inf")


class _Product:
    """One user's dealings with one product."""

    __slots__ = ("views", "orders", "bought_ts", "cart_ts")

    def __init__(self) -> None:
        self.views = array("d")  # view times after the latest purchase, ascending
        self.orders = 0
        self.bought_ts = _NEVER
        self.cart_ts: float | None = None

    def copy(self) -> _Product:
        other = _Product()
        other.views, other.orders = array("d", self.views), self.orders
        other.bought_ts, other.cart_ts = self.bought_ts, self.cart_ts
        return other


class _User:
    __slots__ = ("orders", "value", "products")

    def __init__(self) -> None:
        self.orders = 0
        self.value = 0.0
        self.products: dict[str, _Product] = {}  # least recently touched first


class UserActivity:
    """Per-user counts for the rules' user facts, bounded in users, products and views."""

    def __init__(
        self,
        max_users: int = 100_000,
        max_products: int = 20,
        max_views: int = 10,
        abandon_after: float = 3_600.0,
    ):
        if min(max_users, max_products, max_views) < 1 or not 0 <= abandon_after < DAY:
            raise ValueError(
                "UserActivity needs max_users, max_products, max_views >= 1 "
                f"and 0 <= abandon_after < {DAY:.0f} s"
            )
        self.max_users = max_users
        self.max_products = max_products
        self.max_views = max_views
        self.abandon_after = abandon_after
        self._users: OrderedDict[str, _User] = OrderedDict()

    def __len__(self) -> int:
        """Number of users remembered."""
        return len(self._users)

    def apply(self, event: InputEvent) -> None:
        """Learn a click or a sale (reviews and product updates say nothing here)."""
        if isinstance(event, ClickEvent):
            self.learn_one(event.user_id, event.product_id, event.action, event.ts)
        elif isinstance(event, SaleEvent):
            self.learn_one(event.user_id, event.product_id, "sale", event.ts, sale_value(event))

    def learn_one(
        self, user_id: str, product_id: str, action: str, ts: float, amount: float = 0.0
    ) -> None:
        """Learn one ``action`` ('view', 'add_to_cart', 'remove_from_cart' or 'sale', worth
        ``amount``) at event time ``ts``; other actions ('favorite') are ignored."""
        if action not in _ACTIONS:
            return
        users = self._users
        user = users.get(user_id)
        if user is None:
            user = users[user_id] = _User()
            if len(users) > self.max_users:
                users.popitem(last=False)
        else:
            users.move_to_end(user_id)
        products = user.products
        product = products.pop(product_id, None) or _Product()
        products[sys.intern(product_id)] = product  # now the most recent; ids shared by users
        self._learn(user, product, action, ts, amount)
        if len(products) > self.max_products:
            del products[next(iter(products))]

    def _learn(self, user: _User, p: _Product, action: str, ts: float, amount: float) -> None:
        if action == "view":
            if ts > p.bought_ts:
                bisect.insort(p.views, ts)
                if len(p.views) > self.max_views:
                    del p.views[0]
        elif action == "sale":
            user.orders += 1
            user.value += amount
            p.orders += 1
            p.bought_ts = max(p.bought_ts, ts)
            del p.views[: bisect.bisect_right(p.views, ts)]
            if p.cart_ts is not None and p.cart_ts <= ts:
                p.cart_ts = None
        elif action == "add_to_cart":
            if ts > p.bought_ts and (p.cart_ts is None or ts > p.cart_ts):
                p.cart_ts = ts
        elif action == "remove_from_cart" and p.cart_ts is not None and p.cart_ts <= ts:
            p.cart_ts = None

    def facts(
        self,
        user_id: str,
        product_id: str,
        now: float,
        pending: InputEvent | Sequence[InputEvent] | None = None,
    ) -> dict[str, Any]:
        """The user facts at event time ``now``; with ``pending`` events, as if they were
        learned first, in order (the event being evaluated and others of its batch, which
        reach this state later through the log), nothing changed."""
        user = self._users.get(user_id) or _User()
        events = (pending,) if isinstance(pending, BaseModel) else pending or ()
        mine = [e for e in events if isinstance(e, _LEARNED) and e.user_id == user_id]
        if mine:
            user = self._with(user, mine)
        product = user.products.get(product_id)
        if product is None:
            product = _Product()
        views, since = product.views, max(now - DAY, product.bought_ts)
        seen = bisect.bisect_right(views, now) - bisect.bisect_right(views, since)
        return {
            "user_product_views": seen,
            "user_product_orders": product.orders,
            "user_carts_abandoned": self._abandoned(user, now),
            "user_orders_total": user.orders,
            "user_value_total": float(user.value),
        }

    def _with(self, user: _User, events: Sequence[ClickEvent | SaleEvent]) -> _User:
        """A copy of ``user`` (sharing untouched products) with ``events`` learned, in order."""
        copy = _User()
        copy.orders, copy.value = user.orders, user.value
        copy.products = dict(user.products)
        copied: set[str] = set()
        for event in events:
            pid = event.product_id
            product = copy.products.get(pid)
            if pid not in copied:
                copied.add(pid)
                product = copy.products[pid] = product.copy() if product else _Product()
            assert product is not None
            if isinstance(event, SaleEvent):
                self._learn(copy, product, "sale", event.ts, sale_value(event))
            elif event.action in _ACTIONS:
                self._learn(copy, product, event.action, event.ts, 0.0)
        return copy

    def _abandoned(self, user: _User, now: float) -> int:
        first, last = now - DAY, now - self.abandon_after
        return sum(
            1 for p in user.products.values() if p.cart_ts is not None and first < p.cart_ts <= last
        )


_ACTIONS = frozenset({"view", "add_to_cart", "remove_from_cart", "sale"})
#: The events users facts learn (a tuple: ``ClickEvent | SaleEvent`` makes a union per call).
_LEARNED = (ClickEvent, SaleEvent)


def sale_value(event: SaleEvent) -> float:
    """Quantity x price of a sale (0.0 without a price).

    >>> sale_value(SaleEvent(event_id="s", ts=1e9, user_id="u", product_id="p", quantity=3,
    ...                      price=2.5))
    7.5
    """
    return event.quantity * event.price if event.price is not None else 0.0
