"""Kafka over TLS: a worker, a producer and the delivery checker all connect with
``PULSE_KAFKA_SECURITY_PROTOCOL=SSL`` and a CA file, and verify the broker's certificate.

The embedded broker (Tansu 0.6.0) cannot serve TLS itself (its ``--cert`` and ``--key``
options refuse to be given together), so a TLS-terminating proxy stands in front of it and
the broker advertises the proxy's address (``tests/integration/netcut.py``, which never
cuts here): every byte Pulse sends crosses a real TLS session. SASL is not testable here (Tansu offers no PLAIN, and SCRAM users cannot be created
once ``--authentication`` is on with in-memory storage); its settings are unit-tested.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from streams.accounting import Observer, Report, expect, wait_for_delivery
from streams.broker import EmbeddedBroker, free_port
from streams.procs import WorkerProcess
from streams.producing import publish
from streams.replay import read_dataset
from streams.security import kafka_options
from streams.settings import Settings
from tests.integration.netcut import CutProxy

pytestmark = [pytest.mark.integration, pytest.mark.data]

TAOBAO = "ecom_taobao_userbehavior_sample/UserBehavior_sample.csv"


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl)."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(bootstrap over TLS, the CA file that signed it, another CA file)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    cert, key = make_certificate(tmp_path, "broker")
    stranger, _ = make_certificate(tmp_path, "stranger")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    proxy_port = free_port()
    with (
        EmbeddedBroker(advertised_port=proxy_port, log_file=tmp_path / "broker.log") as broker,
        CutProxy(proxy_port, broker.port, ssl=context),
    ):
        yield f"127.0.0.1:{proxy_port}", cert, stranger


def test_worker_producer_and_checker_over_tls(
    tls_broker: tuple[str, Path, Path], tmp_path: Path, shared_data: Path
) -> None:
    bootstrap, ca, stranger = tls_broker
    tls = {"PULSE_KAFKA_SECURITY_PROTOCOL": "SSL", "PULSE_KAFKA_SSL_CAFILE": str(ca)}
    settings = Settings(topic_prefix="tls.", kafka_security_protocol="SSL", kafka_ssl_cafile=ca)
    worker = WorkerProcess(bootstrap, "tls.", tmp_path / "w0", tls).start(ready_timeout=60)
    try:
        ledger = list(read_dataset(shared_data / TAOBAO, limit=2_000))
        assert asyncio.run(publish(settings, bootstrap, ledger)) == len(ledger)

        async def account() -> Report:
            expected = expect(ledger, settings.max_payload_bytes)
            async with Observer(settings, bootstrap, [worker.url]) as observer:
                return await wait_for_delivery(expected, observer, timeout=60.0)

        report = asyncio.run(account())
        assert report.ok, report.summary()
    finally:
        worker.stop()

    untrusted = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=stranger)

    async def connect(options: dict[str, object]) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)  # type: ignore[arg-type]
        try:
            await producer.start()
        finally:
            await producer.stop()

    with pytest.raises(KafkaConnectionError):  # a broker certificate the CA did not sign
        asyncio.run(connect(kafka_options(untrusted)))
