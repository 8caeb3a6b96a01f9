"""Event schemas, version 1: the one place that says what Pulse reads and writes.

Every input event carries an ``event_id`` (unique per event, stable across
re-sends: Pulse deduplicates on it) and ``ts``, the time the event happened in
Unix seconds. Identifiers may be sent as strings or integers; they are kept as
strings. Unknown fields are rejected, so a typo never passes silently.

>>> ClickEvent.model_validate({"event_id": "e1", "ts": 1.5e9, "user_id": 7,
...                            "product_id": "p1", "action": "view"}).user_id
'7'
>>> sorted(json_schemas())
['clicks', 'decisions', 'products', 'reviews', 'sales']
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

#: Longest identifier accepted (user, product, event, order ids).
MAX_ID_CHARS = 128
#: Longest review text accepted, in characters.
MAX_TEXT_CHARS = 20_000
#: Timestamps must fall between 1990-01-01 and 2100-01-01 (Unix seconds, not milliseconds).
MIN_TS, MAX_TS = 631_152_000.0, 4_102_444_800.0

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS)]
Money = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
ClickAction = Literal["view", "add_to_cart", "remove_from_cart", "favorite"]


class _Event(BaseModel):
    """Fields common to every event."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        coerce_numbers_to_str=True,
        str_strip_whitespace=False,
    )

    schema_version: Literal[1] = 1
    event_id: Id
    ts: Annotated[float, Field(ge=MIN_TS, le=MAX_TS, allow_inf_nan=False)]

    @field_validator("ts", mode="before")
    @classmethod
    def _finite_number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("ts must be a number of Unix seconds")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("ts must be finite")
        return value


class ReviewEvent(_Event):
    """A customer's review of a product, in any language."""

    user_id: Id
    product_id: Id
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    lang: Annotated[str, Field(max_length=16)] | None = None
    category_id: Id | None = None


class ClickEvent(_Event):
    """A user's interaction with a product page: view, cart, favourite."""

    user_id: Id
    product_id: Id
    action: ClickAction
    session_id: Id | None = None
    category_id: Id | None = None


class SaleEvent(_Event):
    """A purchase of ``quantity`` units of one product at unit ``price``."""

    user_id: Id
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    price: Money | None = None
    currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None
    order_id: Id | None = None
    category_id: Id | None = None


class ProductEvent(_Event):
    """A catalog or stock update for one product; absent fields are unchanged."""

    product_id: Id
    name: Annotated[str, Field(max_length=512)] | None = None
    category_id: Id | None = None
    price: Money | None = None
    stock: Annotated[int, Field(ge=0, le=10**12)] | None = None
    lead_time_days: Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)] | None = None


InputEvent = ReviewEvent | ClickEvent | SaleEvent | ProductEvent

#: The input topics and their event models.
INPUT_SCHEMAS: dict[str, type[_Event]] = {
    "reviews": ReviewEvent,
    "clicks": ClickEvent,
    "sales": SaleEvent,
    "products": ProductEvent,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12) of every topic's values, for producers and consumers in any
    language; ``decisions`` is the rules engine's :data:`rules.DECISION_JSON_SCHEMA`."""
    from rules import DECISION_JSON_SCHEMA

    schemas = {topic: model.model_json_schema() for topic, model in INPUT_SCHEMAS.items()}
    return {**schemas, "decisions": DECISION_JSON_SCHEMA}
