"""Batch processing without Kafka: outcomes, redelivery vs duplicate, feedback order."""

from __future__ import annotations

from typing import Any

import orjson

from graph.aspects import extract_aspects
from rules import DEFAULT_RULES, load_rules
from streams.facts import build_facts
from streams.processor import (
    BatchProcessor,
    Record,
    stored_dict,
    stored_last_ts,
    stored_partition,
    stored_state,
)

TS = 1_764_300_000.0


def click(i: int, pid: str = "p1", eid: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "event_id": eid or f"e{i}",
            "ts": TS + i,
            "user_id": "u",
            "product_id": pid,
            "action": "view",
        }
    )


class Store:
    """The two tables, as dicts, written the way the agent writes them."""

    def __init__(self) -> None:
        self.products: dict[str, Any] = {}
        self.seen: dict[str, Any] = {}

    def processor(self) -> BatchProcessor:
        return BatchProcessor(self.products.get, self.seen.__contains__, max_payload_bytes=4096)

    def run(self, records: list[Record]) -> Any:
        result = self.processor().process(records)
        for pid, (_partition, value) in result.products.items():
            self.products[pid] = orjson.loads(value[0])  # its changelog record, as restored
        self.seen.update(result.seen)
        return result


def records(payloads: list[bytes], start: int = 0, partition: int = 0) -> list[Record]:
    return [Record("clicks", partition, start + i, b"p1", p, TS) for i, p in enumerate(payloads)]


def test_outcomes_and_feedback() -> None:
    store = Store()
    result = store.run(records([click(0), b"{bad", click(1, pid="p2")]))
    assert result.outcomes == {("clicks", "processed"): 2, ("clicks", "dead_letter"): 1}
    assert [r.offset for r, _ in result.dead_letters] == [1]
    assert [orjson.loads(v)["event"]["event_id"] for _, v in result.feedback] == ["e0", "e1"]
    assert store.products["p1"]["s"]["totals"]["views"] == 1


def test_redelivered_messages_are_skipped_by_offset() -> None:
    store = Store()
    store.run(records([click(0), click(1)]))
    store.seen.clear()  # even without the seen ids, the offsets in the state record suffice
    again = store.run(records([click(0), click(1), click(2)]))
    assert again.outcomes == {("clicks", "redelivered"): 2, ("clicks", "processed"): 1}
    assert store.products["p1"]["s"]["totals"]["views"] == 3
    assert set(again.seen) == {"e0", "e1", "e2"}, "redelivered ids are remembered again"


def test_republished_event_ids_are_duplicates() -> None:
    store = Store()
    store.run(records([click(0), click(1)]))
    again = store.run(records([click(0), click(1)], start=10))
    assert again.outcomes == {("clicks", "duplicate"): 2}
    assert not again.feedback
    assert store.products["p1"]["s"]["totals"]["views"] == 2


def test_live_states_follow_what_was_written() -> None:
    """One processor over batches, as in a worker: a product's live state is reused while the
    table still holds what the processor wrote; a batch whose writes never landed (its
    emit failed) is applied again from the stored value, not from the state it changed."""
    table: dict[str, Any] = {}
    processor = BatchProcessor(table.get, lambda eid: False, max_payload_bytes=4096)

    def write(result: Any) -> None:
        table.update({pid: value for pid, (_p, value) in result.products.items()})

    write(processor.process(records([click(0), click(1)])))
    write(processor.process(records([click(2)], start=2)))
    processor.process(records([click(3), click(4)], start=3))  # never written
    again = processor.process(records([click(3), click(4)], start=3))
    assert again.outcomes == {("clicks", "processed"): 2}
    write(again)
    state = stored_state(table["p1"])
    assert state.totals["views"] == 5
    assert stored_dict(table["p1"])["o"] == {"clicks:0": 4}
    assert stored_last_ts(table["p1"]) == TS + 4 and stored_partition(table["p1"]) == 0


def test_duplicates_within_one_batch() -> None:
    result = Store().run(records([click(0), click(5, eid="e0")]))
    assert result.outcomes == {("clicks", "processed"): 1, ("clicks", "duplicate"): 1}


def test_offsets_are_tracked_per_source_partition() -> None:
    store = Store()
    store.run(records([click(0)], start=5, partition=0))
    result = store.run(records([click(1)], start=0, partition=1))
    assert result.outcomes == {("clicks", "processed"): 1}
    assert store.products["p1"]["o"] == {"clicks:0": 5, "clicks:1": 0}


def test_events_from_the_future_are_dead_lettered() -> None:
    far = orjson.dumps(
        {
            "event_id": "f",
            "ts": TS + 10 * 86_400,
            "user_id": "u",
            "product_id": "p1",
            "action": "view",
        }
    )
    processor = BatchProcessor(
        dict().get, lambda _: False, 4096, max_future_skew=3600, clock=lambda: TS
    )
    result = processor.process(records([click(0), far]))
    assert [why.reason for _, why in result.dead_letters] == ["future_timestamp"]


def test_a_failure_inside_processing_costs_one_event(monkeypatch) -> None:
    from streams.state import ProductState

    real = ProductState.apply

    def apply(self, event):  # type: ignore[no-untyped-def]
        if event.event_id == "e1":
            raise RuntimeError("boom")
        real(self, event)

    monkeypatch.setattr(ProductState, "apply", apply)
    result = Store().run(records([click(0), click(1), click(2)]))
    assert result.outcomes == {("clicks", "processed"): 2, ("clicks", "dead_letter"): 1}
    assert result.dead_letters[0][1].reason == "processing_error"
    assert "boom" in result.dead_letters[0][1].detail


class Verdict:
    def __init__(self, score: float) -> None:
        self.score, self.confidence = score, abs(score)
        self.label = "negative" if score < 0 else "positive"


def review(i: int, text: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"r{i}",
            "ts": TS + i,
            "user_id": "u",
            "product_id": "p1",
            "text": text,
            "rating": 1,
        }
    )


def test_reviews_are_scored_once_per_batch_into_windows_scored_topic_and_feedback() -> None:
    calls: list[list[str]] = []

    def scorer(texts):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return [Verdict(-0.8 if "差" in t else 0.6) for t in texts]

    store = Store()
    processor = BatchProcessor(
        store.products.get,
        store.seen.__contains__,
        4096,
        scorer=scorer,
        model_version="fast-1",
        clock=lambda: TS,
    )
    batch = [
        Record("reviews", 0, i, b"p1", review(i, t), TS)
        for i, t in enumerate(["质量太差", "very good", "差评"])
    ]
    result = processor.process(batch)
    assert calls == [["质量太差", "very good", "差评"]]
    scored = [orjson.loads(v) for _, v in result.scored]
    assert [(s["event_id"], s["label"], s["model_version"]) for s in scored] == [
        ("r0", "negative", "fast-1"),
        ("r1", "positive", "fast-1"),
        ("r2", "negative", "fast-1"),
    ]
    assert scored[0]["text"] == "质量太差" and scored[0]["score"] == -0.8
    assert orjson.loads(result.feedback[1][1])["sentiment"]["score"] == 0.6
    from streams.processor import stored_state

    state = stored_state(result.products["p1"][1])
    hour = state.snapshot(TS + 10)["sentiment"]["1h"]
    assert hour["count"] == 3 and hour["negative_share"] == 2 / 3


def test_a_review_the_model_cannot_score_is_dead_lettered_alone() -> None:
    def scorer(texts):  # type: ignore[no-untyped-def]
        if any("💥" in t for t in texts):
            raise RuntimeError("bad input")
        return [Verdict(0.5) for _ in texts]

    store = Store()
    processor = BatchProcessor(
        store.products.get, store.seen.__contains__, 4096, scorer=scorer, clock=lambda: TS
    )
    batch = [
        Record("reviews", 0, i, b"p1", review(i, t), TS) for i, t in enumerate(["a", "💥", "b"])
    ]
    result = processor.process(batch)
    assert result.outcomes == {("reviews", "processed"): 2, ("reviews", "dead_letter"): 1}
    assert "sentiment model failed" in result.dead_letters[0][1].detail


def test_a_reviews_aspects_are_extracted_once_into_its_feedback_record() -> None:
    def extract(text: str, lang: str | None) -> list[tuple[str, str]]:
        if "💥" in text:
            raise RuntimeError("extractor bug")
        return [(word, text) for word in text.split()]

    store = Store()
    processor = BatchProcessor(
        store.products.get, store.seen.__contains__, 4096, clock=lambda: TS, aspects=extract
    )
    batch = [Record("reviews", 0, 0, b"p1", review(0, "lens strap"), TS)]
    batch += [Record("reviews", 0, 1, b"p1", review(1, "💥 x"), TS)]
    batch += [Record("clicks", 0, 0, b"p1", click(2), TS)]
    result = processor.process(batch)
    feedback = [orjson.loads(value) for _, value in result.feedback]
    assert feedback[0]["aspects"] == ["lens", "strap"]
    assert feedback[0]["aspect_scores"] == [-1.0, -1.0], "no model: the one-star rating's"
    assert "aspects" not in feedback[1], "a failed extraction is left to the replicas"
    assert "aspects" not in feedback[2]
    assert result.outcomes == {("reviews", "processed"): 2, ("clicks", "processed"): 1}

    def broken(text: str, lang: str | None) -> list[tuple[str, str]]:
        return [("lens", None)]  # type: ignore[list-item]  # a clause that is not text

    odd = BatchProcessor(
        store.products.get, store.seen.__contains__, 4096, clock=lambda: TS, aspects=broken
    )
    odd.scorer = lambda texts: [Verdict(0.5) for _ in texts]  # type: ignore[assignment,misc]
    survived = odd.process(batch[:1])
    assert survived.outcomes == {("reviews", "processed"): 1}, "a bug in mentions costs nothing"
    assert "aspects" not in orjson.loads(survived.feedback[0][1])
    plain = BatchProcessor(store.products.get, store.seen.__contains__, 4096, clock=lambda: TS)
    assert "aspects" not in orjson.loads(plain.process(batch[:1]).feedback[0][1])


def test_a_late_event_is_remembered_from_when_it_was_seen() -> None:
    """Seen ids carry the newest event time applied, so pruning by event time cannot forget
    a late event (ts far behind the stream) before its retry arrives."""
    store = Store()
    late = orjson.dumps(
        {"event_id": "late", "ts": TS - 5 * 365 * 86_400, "user_id": "u", "product_id": "p9",
         "action": "view"}
    )  # fmt: skip
    store.run(records([click(100), late]))
    assert store.seen["late"] == (0, TS + 100)
    retry = store.run(records([late], start=2))
    assert retry.outcomes == {("clicks", "duplicate"): 1}


def test_a_review_s_complaints_count_once_and_its_rules_read_them() -> None:
    """Each aspect takes its clause's score; the negative ones count in the product's
    complaint windows (once: a redelivery and a republished id count nothing) and the
    review's rules see them."""

    def scorer(texts):  # type: ignore[no-untyped-def]
        return [Verdict(-0.7 if "dies" in t else 0.5) for t in texts]

    seen_facts: list[dict[str, Any]] = []

    def facts(trigger, event, state, sentiment, mentions=None):  # type: ignore[no-untyped-def]
        f = build_facts(trigger, event, state, sentiment, mentions=mentions)
        seen_facts.append(f)
        return f

    store = Store()

    def run(batch: list[Record]) -> Any:
        processor = BatchProcessor(
            store.products.get,
            store.seen.__contains__,
            4096,
            scorer=scorer,
            clock=lambda: TS,
            rules=lambda: load_rules(DEFAULT_RULES),
            facts=facts,
            aspects=extract_aspects,
        )
        result = processor.process(batch)
        for pid, (_partition, value) in result.products.items():
            store.products[pid] = orjson.loads(value[0])
        store.seen.update(result.seen)
        return result

    text = "Great screen, but the battery dies in an hour."
    batch = [Record("reviews", 0, i, b"p1", review(i, text), TS) for i in range(5)]
    result = run(batch)
    feedback = orjson.loads(result.feedback[0][1])
    assert (feedback["aspects"], feedback["aspect_scores"]) == (["screen", "battery"], [0.5, -0.7])
    assert seen_facts[0]["review_negative_aspects"] == ["battery"]
    assert seen_facts[-1]["aspect_top_negative"] == "battery"
    assert seen_facts[-1]["aspect_top_negative_1h"] == 5
    assert result.decided["alert_aspect_complaints", "alert"] == 1
    run(batch)  # redelivered
    run([Record("reviews", 1, i, b"p1", review(i, text), TS) for i in range(5)])  # republished
    state = stored_state(store.products["p1"])
    assert state.complaints.last_hour(TS + 10) == {"battery": 5}
