"""Decoding and validation of raw Kafka payloads into typed events.

Nothing here raises on bad input: :func:`decode` returns either an event or a
:class:`Rejection` that names a bounded ``reason`` (a metric label) and a
readable ``detail`` listing every bad field.

>>> decode("clicks", b'{"event_id": "e1", "ts": 1700000000, "user_id": "u",'
...        b' "product_id": "p", "action": "view"}').action
'view'
>>> r = decode("clicks", b'{"event_id": "e1", "ts": "soon", "action": "jump"}')
>>> r.reason
'invalid_fields'
>>> print(r.detail)
ts: ts must be a number of Unix seconds; user_id: Field required; product_id: Field required; \
action: Input should be 'view', 'add_to_cart', 'remove_from_cart' or 'favorite'
>>> decode("sales", b"\\xff\\xfe").reason
'not_utf8'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from pydantic import BaseModel, ValidationError

from streams.schemas import INPUT_SCHEMAS, SCHEMA_VERSION, InputEvent

#: Every reason a payload can be rejected for; bounded, so usable as a metric label.
REASONS: Final = (
    "too_large",
    "empty",
    "not_utf8",
    "not_json",
    "not_object",
    "unsupported_schema_version",
    "invalid_fields",
    "unknown_topic",
    "future_timestamp",
    "processing_error",
)

DEFAULT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload was not accepted."""

    reason: str
    detail: str


def decode(
    topic: str, payload: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES
) -> InputEvent | Rejection:
    """Turn one raw payload from logical ``topic`` into an event, or say why not."""
    model = INPUT_SCHEMAS.get(topic)
    if model is None:
        return Rejection("unknown_topic", f"no schema for topic {topic!r}")
    if not payload:
        return Rejection("empty", "empty payload")
    if len(payload) > max_bytes:
        return Rejection("too_large", f"payload is {len(payload)} bytes, limit {max_bytes}")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", f"invalid UTF-8 at byte {exc.start}: {exc.reason}")
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", f"not valid JSON: {exc}")
    except RecursionError:  # pragma: no cover - orjson reports depth as JSONDecodeError
        return Rejection("not_json", "JSON nested too deeply")
    if not isinstance(data, dict):
        return Rejection("not_object", f"expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        return Rejection(
            "unsupported_schema_version",
            f"schema_version {_short(version)} is not supported (this worker reads {SCHEMA_VERSION})",
        )
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        return Rejection("invalid_fields", _describe(exc))
    except (ValueError, TypeError, RecursionError) as exc:  # pragma: no cover - defensive
        return Rejection("invalid_fields", f"{type(exc).__name__}: {_short(exc)}")


def encode(model: BaseModel) -> bytes:
    """Serialize an event or decision to compact JSON bytes."""
    return orjson.dumps(model.model_dump(mode="json", exclude_none=True))


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "event"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
