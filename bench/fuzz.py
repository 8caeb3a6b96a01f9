"""Coverage-guided fuzzing of Pulse's input path with atheris (libFuzzer).

    pip install -e '.[fuzz]'
    .venv/bin/python bench/fuzz.py -max_total_time=120 -print_final_stats=1
    .venv/bin/python bench/fuzz.py corpus_dir -max_total_time=600

Each input is split into a topic byte and a payload; the payload goes through
``streams.codec.decode`` and, in a batch with a valid event, through
``BatchProcessor.process`` (decode, validation, dedup, state, feedback record). The
harness fails on any exception, on a rejection with an unknown reason, and on a batch
whose outcomes do not account for every record. The seeds are the hostile corpus of
``tests/hostile.py`` and one valid event per topic. libFuzzer prints coverage and
executions per second as it goes (``-print_final_stats=1`` for totals); a failure
stops it with the traceback and writes the input to ``crash-*``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/rules.py would hide rules/.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import atheris  # noqa: E402

with atheris.instrument_imports():
    from streams.codec import REASONS, Rejection, decode
    from streams.processor import BatchProcessor, Record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.hostile import corpus  # noqa: E402

TOPICS = ("reviews", "clicks", "sales", "products")
VALID = b'{"event_id":"v1","ts":1700000000,"user_id":"u","product_id":"p","action":"view"}'
PROCESSOR = BatchProcessor(lambda pid: None, lambda eid: False, max_payload_bytes=65_536)


def one_input(data: bytes) -> None:
    if not data:
        return
    topic, payload = TOPICS[data[0] % len(TOPICS)], data[1:]
    event = decode(topic, payload, 65_536)
    if isinstance(event, Rejection) and (event.reason not in REASONS or not event.detail):
        raise AssertionError(f"rejection without a known reason: {event!r}")
    records = [Record(topic, 0, 0, None, payload, 0.0), Record("clicks", 0, 1, None, VALID, 0.0)]
    result = PROCESSOR.process(records)
    if sum(result.outcomes.values()) != len(records):
        raise AssertionError(f"outcomes {dict(result.outcomes)} for {len(records)} records")
    if any(why.reason == "processing_error" for _, why in result.dead_letters):
        raise AssertionError(f"processing error: {result.dead_letters}")


def seeds(folder: Path) -> None:
    """Write the starting corpus (hostile payloads and valid events) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (topic, payload, _) in enumerate(corpus()):
        if len(payload) < 70_000:
            (folder / f"hostile-{i}").write_bytes(bytes([TOPICS.index(topic)]) + payload)
    for i in range(len(TOPICS)):
        (folder / f"valid-{i}").write_bytes(bytes([i]) + VALID)


def main() -> None:
    args = sys.argv[1:]
    folders = [a for a in args if not a.startswith("-")]
    if not folders:
        folder = Path("build/fuzz-corpus")
        seeds(folder)
        args.append(str(folder))
    else:
        seeds(Path(folders[0]))
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()  # exits with libFuzzer's status: 0, or a crash report and the input


if __name__ == "__main__":
    main()
