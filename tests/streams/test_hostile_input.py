"""Hostile input through the batch processor (no Kafka): whatever the bytes, the processor
never raises, every record gets exactly one outcome, and each rejection names a reason."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import REASONS
from streams.processor import BatchProcessor, Record
from tests.hostile import corpus

TOPICS = ("reviews", "clicks", "sales", "products")
TS = 1_700_000_000

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
_field = st.sampled_from(
    [
        "event_id",
        "ts",
        "user_id",
        "product_id",
        "action",
        "text",
        "rating",
        "quantity",
        "price",
        "stock",
        "schema_version",
        "name",
        "lead_time_days",
        "currency",
    ]
)
#: Near-valid events: the right field names, with values of any JSON type.
_near = st.dictionaries(_field, _json, max_size=9).map(orjson.dumps)
_valid = st.builds(
    lambda i, pid, action: orjson.dumps(
        {"event_id": f"v{i}", "ts": TS + i, "user_id": "u", "product_id": pid, "action": action}
    ),
    st.integers(0, 50),
    st.sampled_from(["p1", "p2", "é", "产品"]),
    st.sampled_from(["view", "add_to_cart", "favorite"]),
)
_payload = st.one_of(
    st.binary(max_size=300),
    _near,
    _valid,
    st.sampled_from([p for _, p, _ in corpus() if len(p) < 1_000]),
)


def _processor() -> BatchProcessor:
    return BatchProcessor(lambda pid: None, lambda eid: False, max_payload_bytes=65_536)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TOPICS), _payload), min_size=1, max_size=30))
def test_every_record_gets_one_outcome_and_nothing_raises(batch: list[tuple[str, bytes]]) -> None:
    records = [Record(t, 0, i, None, p, TS) for i, (t, p) in enumerate(batch)]
    result = _processor().process(records)
    assert sum(result.outcomes.values()) == len(records)
    assert len(result.dead_letters) == sum(
        n for (_, outcome), n in result.outcomes.items() if outcome == "dead_letter"
    )
    for _record, why in result.dead_letters:
        assert why.reason in REASONS and why.reason != "processing_error", why
        assert why.detail
    assert len(result.feedback) == sum(
        n for (_, outcome), n in result.outcomes.items() if outcome == "processed"
    )


def test_the_hostile_corpus_is_rejected_with_its_reasons() -> None:
    cases = list(corpus())
    records = [Record(t, 0, i, None, p, TS) for i, (t, p, _) in enumerate(cases)]
    result = _processor().process(records)
    got = [why.reason for _, why in result.dead_letters]
    assert got == [reason for _, _, reason in cases]
