"""Tripwires for the faust-streaming internals :mod:`streams.consumer` overrides."""

from __future__ import annotations

import asyncio
import inspect
import weakref

import aiokafka
from aiokafka.consumer import group_coordinator
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.app import PulseApp
from streams.consumer import PulseConsumer, PulseConsumerThread, PulseFlowControl, PulseTransport
from streams.tansu import TansuTransport


def test_faust_fetch_loop_is_the_one_we_replace() -> None:
    source = inspect.getsource(faust_consumer.Consumer._drain_messages)
    # the stock loop records the read offset after every hand-off, rebalance or not
    assert "callback(message), self.suspend_flow.wait()" in source
    assert "set_read_offset(tp, offset)" in source
    for name in ("_read_offset", "_add_gap", "_commit_every", "_n_acked", "suspend_flow"):
        assert name in source, f"faust's fetch loop no longer uses {name}"


def test_the_fetch_wait_is_a_constant_faust_sets_and_aiokafka_reads() -> None:
    assert "fetch_max_wait_ms=1500" in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
    )
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(
        aiokafka.AIOKafkaConsumer.__init__
    )
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)


def test_both_transports_use_pulse_consumer() -> None:
    assert issubclass(TansuTransport.Consumer, PulseConsumer)
    assert PulseTransport.Consumer is PulseConsumer
    assert PulseConsumer._new_consumer_thread is not faust_aiokafka.Consumer._new_consumer_thread
    assert issubclass(PulseConsumerThread, faust_aiokafka.AIOKafkaConsumerThread)
    app = PulseApp("t", broker="kafka://localhost:1")
    assert type(app._new_transport()) is PulseTransport  # noqa: SLF001
    app.use_tansu_transport = True
    assert type(app._new_transport()) is TansuTransport  # noqa: SLF001


def test_faust_stamps_messages_when_it_converts_them_and_aiokafka_assigns_before_telling() -> None:
    # the generation a message carries is read in the main thread, after the fetch
    assert "generation_id=self.app.consumer_generation_id" in inspect.getsource(
        faust_aiokafka.Consumer._to_message
    )
    # the thread's collection returns straight from aiokafka: nothing awaited after it
    source = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._fetch_records)
    assert "return await fetcher.fetched_records(" in source
    # aiokafka installs the new assignment, then the listener sets Faust's generation
    join = inspect.getsource(group_coordinator.GroupCoordinator._on_join_complete)
    assert join.index("assign_from_subscribed") < join.index("on_partitions_assigned")
    assert "app.consumer_generation_id = generation" in inspect.getsource(
        faust_aiokafka.ConsumerRebalanceListener.on_partitions_assigned
    )


class _App:
    consumer_generation_id = 3


class _Record:
    topic, partition, offset, timestamp, timestamp_type = "clicks", 2, 1950, 1_000, 0
    headers, key, value, checksum = [], b"k", b"v", None
    serialized_key_size = serialized_value_size = 1


def test_a_fetch_that_crosses_a_rebalance_keeps_the_generation_it_was_collected_in(
    monkeypatch,
) -> None:
    """Records collected in generation 3 reach the main thread after the group moved to 4:
    their messages say 3, so the streams drop them as stale (they are fetched again)."""
    app = _App()

    async def collect(self, consumer, active, timeout=None, max_records=None):  # noqa: ANN001
        return {"tp": [_Record()]}

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "_fetch_records", collect)
    thread = object.__new__(PulseConsumerThread)
    thread.app = app
    thread.seek_counts = {}
    fetched = asyncio.run(thread._fetch_records(None, None))  # noqa: SLF001
    app.consumer_generation_id = 4  # the rebalance, before the main thread has the records

    class _Thread:
        async def getmany(self, active, timeout):  # noqa: ANN001
            return fetched

    consumer = object.__new__(PulseConsumer)
    consumer.app = app
    consumer._thread = _Thread()  # noqa: SLF001
    records = asyncio.run(consumer._getmany(None, 1.0))  # noqa: SLF001
    messages = [consumer._to_message("tp", r) for r in records["tp"]]  # noqa: SLF001
    assert [(m.offset, m.generation_id) for m in messages] == [(1950, 3)]
    # a fetch collected after the rebalance says 4
    fetched = asyncio.run(thread._fetch_records(None, None))  # noqa: SLF001
    records = asyncio.run(consumer._getmany(None, 1.0))  # noqa: SLF001
    assert consumer._to_message("tp", records["tp"][0]).generation_id == 4  # noqa: SLF001


def test_faust_streams_ack_the_messages_they_drop_at_a_rebalance() -> None:
    from faust import streams

    source = inspect.getsource(streams.Stream._py_aiter)
    assert "not self.app.flow_control.is_active()" in source
    assert "message.generation_id != self.app.consumer_generation_id" in source
    assert "do_ack or value is skipped_value" in source  # ... and acks them
    # a rebalance waits until no message is unacked (what PulseConsumer.ack lets go)
    wait = inspect.getsource(faust_consumer.Consumer.wait_empty)
    assert "self._unacked_messages" in wait and "_wait_for_ack" in wait
    assert "notify(self._waiting_for_ack)" in inspect.getsource(faust_consumer.Consumer.ack)


class _Flow:
    def __init__(self, active: bool):
        self.active = active

    def is_active(self) -> bool:
        return self.active


class _Message:
    def __init__(self, generation: int):
        self.generation_id, self.tp, self.offset, self.acked = generation, "clicks-3", 1993, False


def test_a_message_dropped_at_a_rebalance_is_let_go_but_not_committed(monkeypatch) -> None:
    counted = []
    monkeypatch.setattr(faust_consumer.Consumer, "ack", lambda self, m: counted.append(m) or True)
    consumer = object.__new__(PulseConsumer)
    consumer.app = _App()
    consumer.app.consumer_generation_id = 6
    consumer._applied = weakref.WeakSet()  # noqa: SLF001
    queued, stale, applied = _Message(6), _Message(5), _Message(6)
    consumer._unacked_messages = weakref.WeakSet([queued, stale, applied])  # noqa: SLF001
    consumer._waiting_for_ack = None  # noqa: SLF001
    consumer.app.flow_control = _Flow(active=False)  # a rebalance under way
    consumer.mark_applied([applied])
    assert not consumer.ack(queued)  # dropped by the stream: not applied
    assert consumer.ack(applied)  # applied before the flow stopped: committed on revoke
    consumer.app.flow_control = _Flow(active=True)
    assert not consumer.ack(stale)  # fetched before the last rebalance
    assert counted == [applied] and consumer.refused_acks == 2
    # the rebalance does not wait for the two let go (Faust's wait_empty)
    assert queued.acked and stale.acked
    assert set(consumer._unacked_messages) == {applied}  # noqa: SLF001
    current = _Message(6)
    assert consumer.ack(current) and counted == [applied, current]


def test_faust_clears_stream_queues_on_every_resume_and_recovery_resumes_twice() -> None:
    from faust.tables import recovery
    from mode.utils.queues import FlowControlEvent

    assert "self.clear()" in inspect.getsource(FlowControlEvent.resume)
    source = inspect.getsource(recovery.Recovery)
    assert source.count("flow_control.resume()") >= 2  # on starting, and on completing
    assert type(PulseApp("t", broker="kafka://localhost:1").flow_control) is PulseFlowControl


def test_queued_messages_survive_a_resume_of_a_flow_already_running() -> None:
    from mode.utils.queues import FlowControlQueue

    async def go() -> tuple[int, int]:
        flow = PulseFlowControl(initially_suspended=True)
        queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        queue.put_nowait(1)  # stale: queued before the flow was stopped
        flow.resume()  # stopped -> flowing: cleared, as Faust does
        after_stop = queue.qsize()
        queue.put_nowait(2)  # fetched while flowing (recovery resumed the flow early)
        flow.resume()  # flowing already: kept
        return after_stop, queue.qsize()

    assert asyncio.run(go()) == (0, 1)
