"""Tripwires for the faust-streaming internals :mod:`streams.consumer` overrides."""

from __future__ import annotations

import inspect

import aiokafka
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.app import PulseApp
from streams.consumer import PulseConsumer, PulseConsumerThread, PulseTransport
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
