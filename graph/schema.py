"""Node kinds and edge types of the knowledge graph, and what each edge's numbers mean.

Every edge has a decayed ``weight``, the time of its latest event ``last_ts`` and
an event ``count``; three more numbers (``value``, ``a``, ``b``) mean what
:data:`EDGE_FIELDS` says for its type (``None``: unused).

>>> EDGE_TYPES[BOUGHT], ENDPOINTS[HAS_ASPECT], EDGE_FIELDS[HAS_ASPECT]
('bought', (1, 3), ('sentiment_sum', 'positive', 'negative'))
"""

from __future__ import annotations

NODE_KINDS = ("user", "product", "category", "aspect")
USER, PRODUCT, CATEGORY, ASPECT = range(4)

EDGE_TYPES = (
    "viewed",
    "carted",
    "bought",
    "reviewed",
    "in_category",
    "has_aspect",
    "co_bought",
    "co_viewed",
)
VIEWED, CARTED, BOUGHT, REVIEWED, IN_CATEGORY, HAS_ASPECT, CO_BOUGHT, CO_VIEWED = range(8)
#: The user -> product edges the random walks follow.
INTERACTIONS = frozenset({VIEWED, CARTED, BOUGHT, REVIEWED})
#: Product <-> product edges, stored once with the smaller node id first.
CO_EDGES = frozenset({CO_BOUGHT, CO_VIEWED})
#: Kinds of each edge type's source and target.
ENDPOINTS = {
    VIEWED: (USER, PRODUCT),
    CARTED: (USER, PRODUCT),
    BOUGHT: (USER, PRODUCT),
    REVIEWED: (USER, PRODUCT),
    IN_CATEGORY: (PRODUCT, CATEGORY),
    HAS_ASPECT: (PRODUCT, ASPECT),
    CO_BOUGHT: (PRODUCT, PRODUCT),
    CO_VIEWED: (PRODUCT, PRODUCT),
}
#: Names of the ``value``, ``a`` and ``b`` columns per edge type (None: unused).
EDGE_FIELDS: dict[int, tuple[str | None, str | None, str | None]] = {
    VIEWED: (None, None, None),
    CARTED: (None, None, None),
    BOUGHT: ("quantity", None, None),
    REVIEWED: ("sentiment_sum", "rating", None),
    IN_CATEGORY: (None, None, None),
    HAS_ASPECT: ("sentiment_sum", "positive", "negative"),
    CO_BOUGHT: (None, None, None),
    CO_VIEWED: (None, None, None),
}
#: Type code of a free (pruned, reusable) edge slot and kind code of a free node slot.
FREE = 255


def edge_type(name: str) -> int:
    """The code of an edge type named as in :data:`EDGE_TYPES`.

    >>> edge_type("co_viewed")
    7
    """
    try:
        return EDGE_TYPES.index(name)
    except ValueError:
        raise ValueError(f"unknown edge type {name!r}; one of {', '.join(EDGE_TYPES)}") from None


def node_kind(name: str) -> int:
    """The code of a node kind named as in :data:`NODE_KINDS`."""
    try:
        return NODE_KINDS.index(name)
    except ValueError:
        raise ValueError(f"unknown node kind {name!r}; one of {', '.join(NODE_KINDS)}") from None
