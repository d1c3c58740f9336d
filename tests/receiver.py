"""A real webhook receiver for tests: an aiohttp server on 127.0.0.1, in its own thread.

It records every request (path, headers, exact body) and answers from a script per path
(a list of statuses, the last one repeating), so a test can make it fail, redirect, hang
or answer 410.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)
    # path -> statuses to answer in turn (the last repeats); "hang" waits a long time
    script: dict[str, list[int | str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0  # seconds before each answer

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"{path}: {len(self.at(path))} of {count} requests arrived")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self.lock:
            self.received.append(Received(request.path, dict(request.headers), body))
            steps = self.script.get(request.path, [200])
            answer = steps.pop(0) if len(steps) > 1 else steps[0]
        if answer == "hang":
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)
        if answer in (301, 302, 307):
            raise web.HTTPFound(self.url("/elsewhere"))
        return web.Response(status=int(answer), text="ok" if answer == 200 else "no")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    ready = threading.Event()
    stop: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", receiver.handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", receiver.port).start())
        stop["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield receiver
    finally:
        stop["loop"].call_soon_threadsafe(stop["loop"].stop)
        thread.join(10)
