"""The live feed: every message to every WebSocket client, without ever waiting for one.

Each client gets a bounded queue. :meth:`Broadcaster.publish` puts the message in every
queue without blocking; a full queue (a slow client) drops the message and counts it,
so a slow reader costs predictions nothing. All methods run on the event loop thread.

>>> import asyncio
>>> async def demo() -> tuple[list[str], int]:
...     feed = Broadcaster(queue_size=2)
...     client = feed.connect()
...     for text in ("a", "b", "c"):
...         feed.publish(text)
...     received = [client.queue.get_nowait(), client.queue.get_nowait()]
...     feed.disconnect(client)
...     return received, feed.dropped
>>> asyncio.run(demo())
(['a', 'b'], 1)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class Subscriber:
    """One connected client: its queue and how many messages it missed."""

    queue: asyncio.Queue[str]
    dropped: int = 0


@dataclass(eq=False)
class Broadcaster:
    """Fans messages out to subscribers through bounded queues.

    ``on_drop(n)`` and ``on_connections(count)`` let the owner keep metrics.
    """

    queue_size: int
    on_drop: Callable[[int], None] | None = None
    on_connections: Callable[[int], None] | None = None
    dropped: int = 0
    _subscribers: set[Subscriber] = field(default_factory=set)

    @property
    def connections(self) -> int:
        return len(self._subscribers)

    def connect(self) -> Subscriber:
        subscriber = Subscriber(asyncio.Queue(maxsize=self.queue_size))
        self._subscribers.add(subscriber)
        self._connections_changed()
        return subscriber

    def disconnect(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.discard(subscriber)
            self._connections_changed()

    def publish(self, message: str) -> None:
        """Queue ``message`` for every client; a full queue drops it for that client."""
        dropped = 0
        for subscriber in self._subscribers:
            try:
                subscriber.queue.put_nowait(message)
            except asyncio.QueueFull:
                subscriber.dropped += 1
                dropped += 1
        if dropped:
            self.dropped += dropped
            if self.on_drop is not None:
                self.on_drop(dropped)

    async def relay(self, send: Callable[[str], Awaitable[None]], closed: Callable[[], Awaitable[object]]) -> None:
        """Send this feed to one client until ``closed()`` returns (the client went away).

        ``send`` delivers one message; ``closed`` waits for the client to disconnect.
        """
        subscriber = self.connect()

        async def pump() -> None:
            while True:
                await send(await subscriber.queue.get())

        sender = asyncio.create_task(pump())
        try:
            watcher = asyncio.create_task(closed())
            await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            self.disconnect(subscriber)

    def _connections_changed(self) -> None:
        if self.on_connections is not None:
            self.on_connections(len(self._subscribers))


async def until_disconnected(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """Read an ASGI WebSocket's incoming messages (and ignore them) until it disconnects."""
    while (await receive()).get("type") != "websocket.disconnect":
        pass
