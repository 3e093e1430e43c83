"""A real TCP relay on loopback in front of a Kafka broker, to cut and restore in a test.

It relays whole Kafka protocol frames (a 4-byte big-endian length, then the body) in both
directions, over real sockets, for every client connection. :meth:`KafkaRelay.cut` makes
the broker unreachable the way a broker that shuts down does: it stops listening (new
connections are refused), stops passing requests on, waits until every request it did pass
on has its response back to the client, and then closes every connection. So no request is
left that the broker wrote but whose answer the client never saw; a client that resends what
failed therefore duplicates nothing, and any duplicate a test finds is the client's own.
:meth:`KafkaRelay.restore` listens again on the same port.

The broker must advertise the relay's address (its advertised listener), or clients would
learn the broker's own address from the metadata and go around the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KafkaRelay"]

_HEADER = 4


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    broker: asyncio.StreamWriter
    forwarded: int = 0  # requests passed on to the broker
    answered: int = 0  # responses passed back to the client
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        for writer in (self.client, self.broker):
            with contextlib.suppress(Exception):
                writer.close()


class KafkaRelay:
    """Relay ``host:port`` (0: the kernel picks, kept across restores) to the broker at
    ``upstream_host:upstream_port``. Thread-safe; runs its own event loop thread."""

    def __init__(
        self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.connections_seen = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._cut = False

    # -- control, from any thread --------------------------------------------------------

    def start(self) -> KafkaRelay:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self, timeout: float = 30.0) -> None:
        """Stop relaying: refuse new connections, let answers to passed-on requests reach
        their clients (up to ``timeout``), then close every connection."""
        self._call(self._cut_now(timeout))

    def restore(self) -> None:
        """Listen again on the same port and relay new connections."""
        self._call(self._listen())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._cut_now(5.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    # -- the relay, on its loop ----------------------------------------------------------

    async def _listen(self) -> None:
        self._cut = False
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut_now(self, timeout: float) -> None:
        self._cut = True  # from here on no request is passed on (checked per frame)
        if self._server is not None:
            self._server.close()
            self._server = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            c.answered < c.forwarded for c in self._connections
        ):
            await asyncio.sleep(0.01)
        for connection in list(self._connections):
            connection.close()
            for task in connection.tasks:
                task.cancel()
        self._connections.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            broker_reader, broker_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.connections_seen += 1
        connection = _Connection(client=writer, broker=broker_writer)
        self._connections.add(connection)
        connection.tasks = [
            asyncio.create_task(self._requests(reader, connection)),
            asyncio.create_task(self._responses(broker_reader, connection)),
        ]

    async def _requests(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        try:
            while True:
                frame = await _read_frame(reader)
                if self._cut:
                    return  # never reaches the broker: the client sees the connection close
                connection.broker.write(frame)
                connection.forwarded += 1
                await connection.broker.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not self._cut:
                connection.close()
                self._connections.discard(connection)

    async def _responses(self, reader: asyncio.StreamReader, connection: _Connection) -> None:
        try:
            while True:
                frame = await _read_frame(reader)
                connection.client.write(frame)
                connection.answered += 1
                await connection.client.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not self._cut:
                connection.close()
                self._connections.discard(connection)


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(_HEADER)
    size = int.from_bytes(header, "big", signed=True)
    return header + await reader.readexactly(max(0, size))
