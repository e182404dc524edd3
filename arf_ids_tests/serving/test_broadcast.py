"""The live feed: bounded per-client queues, drop counting, relay until the client leaves."""

from __future__ import annotations

import asyncio

from arf_ids.serving.broadcast import Broadcaster


def test_a_full_queue_drops_for_that_client_only() -> None:
    async def run() -> tuple[list[str], list[str], int, int, list[int]]:
        drops: list[int] = []
        feed = Broadcaster(queue_size=2, on_drop=drops.append)
        slow, fast = feed.connect(), feed.connect()
        feed.publish("m1")
        fast_seen = [fast.queue.get_nowait()]
        feed.publish("m2")
        feed.publish("m3")
        fast_seen += [fast.queue.get_nowait(), fast.queue.get_nowait()]
        slow_seen = [slow.queue.get_nowait(), slow.queue.get_nowait()]
        return slow_seen, fast_seen, slow.dropped, fast.dropped, drops

    slow_seen, fast_seen, slow_dropped, fast_dropped, drops = asyncio.run(run())
    assert fast_seen == ["m1", "m2", "m3"] and fast_dropped == 0
    assert slow_seen == ["m1", "m2"] and slow_dropped == 1 and drops == [1]


def test_relay_sends_until_the_client_leaves_and_then_disconnects() -> None:
    async def run() -> tuple[list[str], list[int]]:
        counts: list[int] = []
        feed = Broadcaster(queue_size=10, on_connections=counts.append)
        sent: list[str] = []
        left = asyncio.Event()

        async def send(message: str) -> None:
            sent.append(message)
            if len(sent) == 2:
                left.set()

        relay = asyncio.create_task(feed.relay(send, left.wait))
        await asyncio.sleep(0)
        for text in ("a", "b", "c"):
            feed.publish(text)
        await asyncio.wait_for(relay, timeout=5)
        feed.publish("after")
        return sent, counts

    sent, counts = asyncio.run(run())
    assert sent[:2] == ["a", "b"] and "after" not in sent
    assert counts == [1, 0]
