"""A TCP proxy in front of the broker that cuts some Kafka clients off and lets others through.

The broker advertises the proxy's port, so every connection of every client goes through it.
Each connection is told apart by the client id of its first request (every Kafka request
header carries one). :meth:`CutProxy.cut` stops relaying, in both directions, every
connection whose client id is not spared, and every such connection opened during the cut:
their bytes wait in the sockets' buffers and their requests go unanswered, as across a
network partition (nothing is reset or refused). :meth:`CutProxy.restore` relays again.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from ssl import SSLContext

#: A request header: size (int32), api key (int16), version (int16), correlation id (int32),
#: client id (nullable int16-length string).
HEADER = struct.Struct(">ihhih")


def client_id(request: bytes) -> str | None:
    """The client id of a Kafka request, ``request`` holding at least its first bytes.

    >>> client_id(HEADER.pack(20, 3, 12, 1, 6) + b"pulse-" + b"...")
    'pulse-'
    >>> client_id(HEADER.pack(20, 3, 12, 1, -1)) is None
    True
    """
    *_, size = HEADER.unpack_from(request)
    if size < 0:
        return None
    return request[HEADER.size : HEADER.size + size].decode("utf-8", "replace")


@dataclass
class Link:
    """One client connection: its client id once known, and whether bytes may flow."""

    client: str | None = None
    flowing: asyncio.Event = field(default_factory=asyncio.Event)


class CutProxy:
    """Relays ``port`` to ``target`` on 127.0.0.1, in a thread of its own; with ``ssl``, it
    terminates TLS on ``port`` and relays the plain bytes."""

    def __init__(self, port: int, target: int, ssl: SSLContext | None = None):
        self.port, self.target, self.ssl = port, target, ssl
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.links: list[Link] = []
        self.spared: frozenset[str] | None = None  # None: no cut
        #: Client ids of the connections held during the last cut.
        self.held: set[str | None] = set()

    # -- the test's side (any thread) -----------------------------------------------------

    def cut(self, spare: Collection[str]) -> None:
        """From now on, relay only connections whose client id is in ``spare``."""
        self._call(self._cut, frozenset(spare))

    def restore(self) -> None:
        """Relay every connection again."""
        self._call(self._restore)

    def _call(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        async def run() -> None:
            fn(*args)

        asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    # -- the proxy's loop -----------------------------------------------------------------

    def _cut(self, spare: frozenset[str]) -> None:
        self.spared, self.held = spare, set()
        for link in self.links:
            self._gate(link)

    def _restore(self) -> None:
        self.spared = None
        for link in self.links:
            link.flowing.set()

    def _gate(self, link: Link) -> None:
        if self.spared is None or link.client in self.spared:
            link.flowing.set()
        else:
            link.flowing.clear()
            self.held.add(link.client)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link()
        try:
            first = await reader.readexactly(HEADER.size)
            size = HEADER.unpack_from(first)[-1]
            first += await reader.readexactly(max(size, 0))
            link.client = client_id(first)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            return
        self.links.append(link)
        self._gate(link)
        try:
            await link.flowing.wait()
            up_writer.write(first)
            await asyncio.gather(
                self._relay(reader, up_writer, link), self._relay(up_reader, writer, link)
            )
        finally:
            self.links.remove(link)

    @staticmethod
    async def _relay(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await link.flowing.wait()  # cut: hold the bytes (and stop reading more)
                writer.write(data)
                await writer.drain()
        writer.close()

    def __enter__(self) -> CutProxy:
        self.thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.ssl)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
