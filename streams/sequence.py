"""Each input partition's events reach the processor in offset order, with no hole.

Per-product state carries the last offset it applied from each partition, so a message at
or below it counts as redelivered (:mod:`streams.processor`). That is exact only if, within
one generation of the consumer group, a worker applies each partition's messages in order
and skips none: if messages 1571-1635 never arrive and 1636 does, a product's event at 1636
is applied, and when 1600 comes back later (a rebalance fetches again from the committed
offset) it looks redelivered and is lost.

Faust dropped queued messages between its fetch loop and the agent around a rebalance
(issue 8: traced with ``PULSE_TRACE_DELIVERY=1``, 65 messages of two partitions handed to
the stream right before "Worker ready" and never seen by it: its flow control wiped the
stream queues on a second resume, fixed in :mod:`streams.consumer`). :class:`Sequencer`
makes any such drop harmless, wherever it happens: past a hole it drops the partition's
events and asks for a seek back to the first missing offset, until the messages fetched
again arrive in order.

A hole can be real: offsets without a message (transaction markers, compaction). Each
message carries how many seeks back of its partition had taken effect when it was fetched
(:meth:`streams.consumer.PulseConsumer.seek_back`), so the sequencer tells the messages
fetched before its seek (dropped) from those fetched after (in order from the seek: a first
one past the expected offset is a real hole, and the partition goes on from there).

>>> s = Sequencer()
>>> s.admit(1, [("c-1", 10, 0, "a"), ("c-1", 11, 0, "b"), ("c-1", 14, 0, "e"), ("c-1", 15, 0, "f")])
(['a', 'b'], ['e', 'f'], {'c-1': 12})
>>> s.admit(1, [("c-1", 16, 0, "g"), ("c-1", 12, 1, "c"), ("c-1", 13, 1, "d"), ("c-1", 14, 1, "e")])
(['c', 'd', 'e'], ['g'], {})
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Sequencer(Generic[T]):
    """Admits ``(partition, offset, seeks, item)`` in offset order per partition, within a
    generation (``seeks``: the partition's seeks back taken effect when it was fetched)."""

    def __init__(self) -> None:
        self.generation: int | None = None
        #: partition -> the next offset expected
        self.expected: dict[Hashable, int] = {}
        #: partition -> the seeks a message must carry to come from the fetch after ours
        self.waiting: dict[Hashable, int] = {}
        #: holes found (each asked a seek back), and those found real after it
        self.holes = 0
        self.real_holes = 0

    def admit(
        self,
        generation: int,
        events: Sequence[tuple[Hashable, int, int, T]],
        committed: Callable[[Hashable], int | None] = lambda tp: None,
    ) -> tuple[list[T], list[T], dict[Hashable, int]]:
        """``(kept, dropped, seeks)``: the events to apply, in their order; those to let go
        (fetched again); ``partition -> offset`` to seek back to.

        ``committed(partition)``: where the group's fetch of a partition starts in this
        generation (None: unknown; the first event seen is taken as the start)."""
        if generation != self.generation:
            self.generation = generation
            self.expected.clear()
            self.waiting.clear()
        kept: list[T] = []
        dropped: list[T] = []
        seeks: dict[Hashable, int] = {}
        expected, waiting = self.expected, self.waiting
        for tp, offset, fetched_after, item in events:
            want = expected.get(tp)
            if want is None:
                start = committed(tp)
                want = offset if start is None else start
            needed = waiting.get(tp)
            if needed is not None:
                if fetched_after < needed:  # fetched before our seek: it comes again
                    dropped.append(item)
                    continue
                del waiting[tp]
                if offset > want:  # the fetch from our seek starts past it: no message there
                    self.real_holes += 1
                    want = offset
            if offset > want:  # messages [want, offset) never arrived
                self.holes += 1
                waiting[tp] = fetched_after + 1
                seeks[tp] = want
                dropped.append(item)
                continue
            kept.append(item)
            expected[tp] = max(want, offset + 1)
        return kept, dropped, seeks
