"""Feedback records shaped as the log carries them (``streams.processor.feedback_record``)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]
_ids = itertools.count()


def click(user: str, product: str, ts: float, action: str = "view", **extra: Any) -> Record:
    event = {"event_id": f"c{next(_ids)}", "ts": ts, "user_id": user, "product_id": product}
    return {"topic": "clicks", "event": {**event, "action": action, **extra}}


def sale(user: str, product: str, ts: float, **extra: Any) -> Record:
    event = {"event_id": f"s{next(_ids)}", "ts": ts, "user_id": user, "product_id": product}
    return {"topic": "sales", "event": {**event, **extra}}


def review(
    user: str, product: str, ts: float, text: str, score: float | None = None, **extra: Any
) -> Record:
    event = {"event_id": f"r{next(_ids)}", "ts": ts, "user_id": user, "product_id": product}
    record: Record = {"topic": "reviews", "event": {**event, "text": text, **extra}}
    if score is not None:
        label = "positive" if score > 0 else "negative"
        record["sentiment"] = {
            "score": score,
            "label": label,
            "confidence": 0.9,
            "model_version": "test",
        }
    return record


def taobao_records(path: Path, limit: int | None = None) -> Iterator[Record]:
    """Taobao UserBehavior rows as feedback records (the shape streams.replay gives)."""
    actions = {"pv": "view", "cart": "add_to_cart", "fav": "favorite"}
    with path.open(encoding="utf-8") as f:
        for n, row in enumerate(itertools.islice(csv.DictReader(f), limit), 1):
            common = {
                "event_id": f"taobao:{n}",
                "ts": float(row["timestamp"]),
                "user_id": row["user_id"],
                "product_id": row["item_id"],
                "category_id": row["category_id"],
            }
            if row["behavior_type"] == "buy":
                yield {"topic": "sales", "event": {**common, "quantity": 1}}
            else:
                yield {
                    "topic": "clicks",
                    "event": {**common, "action": actions[row["behavior_type"]]},
                }
