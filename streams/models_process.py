"""The knowledge graph and the hybrid recommender in a process of their own.

With ``PULSE_MODELS_PROCESS`` on (the default), a worker starts one child process that
follows the feedback log with the graph and recommender replicas: their learning took about
a third of a busy worker's event loop, which a second core can carry beside it. The worker
keeps its own light replica (user facts, popularity, the event-id window), which the rules
read on every event; the child answers, over two socket pairs the worker makes:

- **facts**: the rules' ``user_top_recommendations``, asked by the worker's batch processor
  and waited for (blocking, ``FACTS_TIMEOUT`` at most). Unanswered in time, or with the
  child down, the popularity model's answer is used instead for ``FACTS_BACKOFF`` s, and
  counted (``pulse_models_fallbacks_total``).
- **views**: ``/recommendations``, ``/reco/stats`` and the ``/graph/...`` views
  (:func:`streams.model_views.answer`, what the worker answers itself without a child), and
  the child's metrics (``pulse_graph_*``, ``pulse_reco_*``, ``pulse_models_feedback_offset``)
  for the worker's ``/metrics``. Unanswered: 503.

A message is a 4-byte big-endian length and an orjson body; each request carries an id,
and an answer that comes after its request gave up is dropped by id. The child reads its
settings (secrets included) from its standard input, logs to the worker's output, exits
when the worker's ends of the sockets close (the worker died) or on SIGTERM, and the worker
starts a new one when it dies (``pulse_models_process_restarts_total``); a new child rebuilds its
models from their snapshots and the log, as a restarted worker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import orjson
from pydantic import SecretStr

from streams.broker import terminate
from streams.metrics import MODELS_FAMILIES, Metrics
from streams.model_views import Answer, answer
from streams.runtime import configure_logging, freezing, limit_blas, use_uvloop
from streams.settings import Settings

log = logging.getLogger(__name__)

HEADER = struct.Struct(">I")
#: The longest the batch processor waits for a user's recommendations, s.
FACTS_TIMEOUT = 0.25
#: After a fact went unanswered, popularity answers for this long, s, before asking again.
FACTS_BACKOFF = 5.0
#: The longest a view waits (a graph digest takes ~1 s per million edges), s.
VIEWS_TIMEOUT = 15.0
#: The longest ``/metrics`` waits for the child's part, s.
METRICS_TIMEOUT = 2.0
#: Between two checks that the child lives, and before a dead one's successor starts, s.
WATCH_EVERY, RESTART_DELAY = 0.5, 1.0
#: The child gives its event loop a turn (a fact or view to answer) this often while it
#: applies a fetched batch of records, s (the worker's own replica: 20 ms).
CHILD_YIELD = 0.0005


class ModelsUnavailable(Exception):
    """The models process did not answer (down, restarting, or too slow)."""


def frame(message: Any) -> bytes:
    """One message as sent: its length, then its JSON.

    >>> frame({"op": "metrics"})
    b'\\x00\\x00\\x00\\x10{"op":"metrics"}'
    """
    body = orjson.dumps(message)
    return HEADER.pack(len(body)) + body


def unframe(buffer: bytearray) -> Any:
    """Take the first whole message out of ``buffer``; ``None`` when it holds none yet.

    >>> buffer = bytearray(frame([1]) + frame([2])[:5])
    >>> unframe(buffer), unframe(buffer), bytes(buffer)
    ([1], None, b'\\x00\\x00\\x00\\x03[')
    """
    if len(buffer) < HEADER.size:
        return None
    (size,) = HEADER.unpack_from(buffer)
    end = HEADER.size + size
    if len(buffer) < end:
        return None
    message = orjson.loads(bytes(buffer[HEADER.size : end]))
    del buffer[:end]
    return message


async def read_message(reader: asyncio.StreamReader) -> Any:
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return orjson.loads(await reader.readexactly(size))


def settings_json(settings: Settings) -> bytes:
    """``settings`` as the child rebuilds them, secrets included (sent on a pipe, never
    on a command line or in the environment)."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings.model_dump().items()
    }
    return json.dumps(values, default=str).encode()


# -- the worker's side ----------------------------------------------------------------------


class ModelsProcess:
    """The worker's handle on its models process: starts and watches it, asks it."""

    def __init__(self, settings: Settings, bootstrap: str, metrics: Metrics):
        self.settings, self.bootstrap, self.metrics = settings, bootstrap, metrics
        self.proc: subprocess.Popen[bytes] | None = None
        self.clock = time.monotonic
        self._facts: socket.socket | None = None
        self._facts_buffer = bytearray()
        self._ready = False
        self._views_socket: socket.socket | None = None
        self._views: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._views_lock = asyncio.Lock()
        self._ids = 0
        self._asking_after = 0.0
        metrics.models_up.set(0)

    # -- its life

    def start(self) -> None:
        """Start a child with two fresh socket pairs."""
        facts, facts_child = socket.socketpair()
        views, views_child = socket.socketpair()
        fds = (facts_child.fileno(), views_child.fileno())
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.models_process", *map(str, fds)],
                stdin=subprocess.PIPE,
                pass_fds=fds,
            )
            assert self.proc.stdin is not None
            with self.proc.stdin:
                self.proc.stdin.write(settings_json(self.settings) + b"\n")
                self.proc.stdin.write(self.bootstrap.encode())
        except OSError:
            facts.close()
            views.close()
            raise
        finally:
            facts_child.close()
            views_child.close()
        self._facts, self._facts_buffer, self._ready = facts, bytearray(), False
        self._views_socket, self._views = views, None
        self._asking_after = 0.0
        self.metrics.models_up.set(1)
        log.info("models process %d started (graph and recommender)", self.proc.pid)

    def _close(self) -> None:
        for sock in (self._facts, self._views_socket):
            if sock is not None:
                sock.close()
        if self._views is not None:
            self._views[1].close()
        self._facts = self._views_socket = None
        self._views = None
        self.metrics.models_up.set(0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``timeout`` s)."""
        proc, self.proc = self.proc, None
        self._close()
        terminate(proc, timeout)

    async def run(self) -> None:
        """Start the child, and a new one whenever it dies, until cancelled."""
        try:
            while True:
                if self.proc is None:
                    try:
                        self.start()
                    except OSError:
                        log.exception("models process not started; trying again")
                        await asyncio.sleep(RESTART_DELAY)
                        continue
                await asyncio.sleep(WATCH_EVERY)
                code = self.proc.poll() if self.proc is not None else None
                if code is None:
                    continue
                log.error("models process exited (%s); starting another", _how(code))
                self.metrics.models_restarts.inc()
                self._close()
                self.proc = None
                await asyncio.sleep(RESTART_DELAY)
        finally:
            self._close()  # on the loop: the views' stream belongs to it
            await asyncio.to_thread(self.stop)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    # -- facts (the batch processor's thread, blocking)

    def top_items(self, user_id: str, k: int) -> list[str] | None:
        """The user's top ``k`` product ids from the child; None when it cannot answer in
        ``FACTS_TIMEOUT`` s (then it is not asked again for ``FACTS_BACKOFF`` s)."""
        facts = self._facts
        if facts is None or self.clock() < self._asking_after or not self._greeted(facts):
            self.metrics.models_fallbacks.inc()
            return None
        self._ids += 1
        ask = self._ids
        started = time.perf_counter()
        try:
            facts.sendall(frame({"id": ask, "op": "top", "user": user_id, "k": k}))
            deadline = self.clock() + FACTS_TIMEOUT
            while True:
                reply = self._receive(facts, deadline)
                if reply.get("id") == ask:  # an earlier, abandoned question's is dropped
                    break
            if "error" in reply:
                raise ModelsUnavailable(reply["error"])
            return list(reply["ok"])
        except (OSError, ModelsUnavailable, orjson.JSONDecodeError) as exc:
            self._asking_after = self.clock() + FACTS_BACKOFF
            self.metrics.models_fallbacks.inc()
            log.warning(
                "models process gave no recommendations (%r): popularity answers for %.0f s",
                exc,
                FACTS_BACKOFF,
            )
            return None
        finally:
            self.metrics.models_wait.observe(time.perf_counter() - started)

    def _greeted(self, facts: socket.socket) -> bool:
        """Whether the child has said it answers (its first message), without waiting:
        a child still starting (importing, 1-2 s) is not waited for."""
        if self._ready:
            return True
        facts.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            self._facts_buffer += facts.recv(65536)
        hello = unframe(self._facts_buffer)
        self._ready = hello is not None and "hello" in hello
        return self._ready

    def _receive(self, facts: socket.socket, deadline: float) -> Any:
        while (message := unframe(self._facts_buffer)) is None:
            left = deadline - self.clock()
            if left <= 0:
                raise ModelsUnavailable(f"no answer in {FACTS_TIMEOUT} s")
            facts.settimeout(left)
            chunk = facts.recv(65536)  # TimeoutError is an OSError
            if not chunk:
                raise ModelsUnavailable("the models process closed its socket")
            self._facts_buffer += chunk
        return message

    # -- views (the event loop)

    async def ask(self, message: dict[str, Any], timeout: float = VIEWS_TIMEOUT) -> Any:
        """The child's answer to ``message``; ModelsUnavailable if none in ``timeout`` s."""
        async with self._views_lock:  # one question at a time on the views socket
            if self._views is None:
                if self._views_socket is None:
                    raise ModelsUnavailable("the models process is not running")
                self._views = await asyncio.open_connection(sock=self._views_socket)
            reader, writer = self._views
            self._ids += 1
            ask = self._ids
            try:
                writer.write(frame({**message, "id": ask}))
                async with asyncio.timeout(timeout):
                    await writer.drain()
                    while (reply := await read_message(reader)).get("id") != ask:
                        pass
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                raise ModelsUnavailable(repr(exc)) from None
        if "error" in reply:
            raise ModelsUnavailable(reply["error"])
        return reply["ok"]

    async def view(self, name: str, args: dict[str, Any]) -> Answer:
        """A model view's status and body (503 when the child does not answer)."""
        try:
            status, body = await self.ask({"op": "view", "name": name, "args": args})
        except ModelsUnavailable as exc:
            return 503, {"error": f"the models process did not answer ({exc}); try again"}
        return status, body

    async def metrics_text(self) -> bytes:
        """The child's metrics in the text format (nothing when it does not answer)."""
        try:
            text = await self.ask({"op": "metrics"}, timeout=METRICS_TIMEOUT)
        except ModelsUnavailable:
            return b""
        return str(text).encode()


def _how(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"status {code}"


# -- the child's side -----------------------------------------------------------------------


def handle(replica: Any, metrics: Metrics, request: dict[str, Any]) -> Any:
    """What the child answers to ``request``."""
    op = request["op"]
    if op == "top":
        return replica.top_items(request["user"], request["k"])
    if op == "view":
        return answer(replica, request["name"], request["args"])
    if op == "metrics":
        metrics.models_offset.set(replica.offset)
        return metrics.render(only=MODELS_FAMILIES).decode()
    raise ValueError(f"unknown request {op!r}")


async def _answer_on(sock: socket.socket, replica: Any, metrics: Metrics) -> None:
    """Say hello, then answer the requests on ``sock`` until the worker closes its end."""
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(frame({"id": 0, "hello": os.getpid()}))
    try:
        while True:
            try:
                request = await read_message(reader)
            except asyncio.IncompleteReadError:
                return  # the worker is gone
            try:
                reply = {"id": request.get("id"), "ok": handle(replica, metrics, request)}
            except Exception as exc:  # a bad request must not stop the models
                log.exception("models process: request %r failed", request.get("op"))
                reply = {"id": request.get("id"), "error": repr(exc)}
            writer.write(frame(reply))
            await writer.drain()
    finally:
        writer.close()


async def serve(settings: Settings, bootstrap: str, fds: list[int]) -> None:
    """Follow the feedback log with the models and answer the worker until it goes."""
    from streams.replica import FeedbackReplica

    metrics = Metrics()
    replica = FeedbackReplica(settings, bootstrap, metrics, users=False)
    replica.yield_after = CHILD_YIELD
    tasks = [asyncio.ensure_future(replica.run())]
    tasks += [
        asyncio.ensure_future(_answer_on(socket.socket(fileno=fd), replica, metrics)) for fd in fds
    ]
    if settings.gc_freeze_interval:
        freezing_heap = freezing(settings.gc_freeze_interval, metrics.gc_freezes)
        tasks.append(asyncio.ensure_future(freezing_heap))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, tasks[0].cancel)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def main(argv: list[str]) -> None:
    """``python -m streams.models_process FACTS_FD VIEWS_FD``, settings on standard input."""
    settings_line, bootstrap = sys.stdin.buffer.read().split(b"\n", 1)
    settings = Settings(**json.loads(settings_line))
    configure_logging(settings.log_level)
    log.info("models process %d following the feedback log", os.getpid())
    limit_blas(settings)
    use_uvloop(settings)
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(serve(settings, bootstrap.decode(), [int(fd) for fd in argv]))
    log.info("models process %d stopped", os.getpid())


if __name__ == "__main__":
    main(sys.argv[1:])
