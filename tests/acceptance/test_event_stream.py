"""``GET /api/events/stream`` on a real ``tidings serve``, read as an ``EventSource`` reads it.

One server per backend is shared by most tests: each works after its own mark in the log
and compares what it streamed with ``GET /api/events`` over the same range. The tests that
stop a server start their own. Streams are read with httpx on anyio, a reader task
collecting the messages; tests wait for them with generous deadlines only.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from tests.acceptance.processes import (
    KEY,
    environment,
    running,
    terminate,
    wait_for,
    wait_until_up,
)
from tests.conftest import BACKENDS, fresh_database
from tests.helpers import free_port

pytestmark = pytest.mark.acceptance

AUTH = {"X-FreeScout-API-Key": KEY}
WAIT = 10.0  # seconds for anything to arrive: generous, never a measurement
STREAM = "/api/events/stream"
_emails = count()


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serving(database_url: str, directory: Path) -> Iterator[Served]:
    env = environment(database_url, run_dispatcher="false")
    log = directory / "serve.log"
    port = free_port()
    with running(["serve", "--port", str(port)], env, log) as proc:
        served = Served(f"http://127.0.0.1:{port}", proc, log)
        wait_until_up(served.url, proc, log)
        yield served


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("event-stream")
    with fresh_database(request.param, request, directory) as url, serving(url, directory) as s:
        yield s


@pytest.fixture
def own_server(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """A server of this test's own, for tests that stop it."""
    with serving(database_url, tmp_path) as s:
        yield s


# --- reading a stream ------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    id: str
    event: str
    data: dict[str, Any]


@dataclass
class Messages:
    """What an ``EventSource`` dispatches, and every block of the stream, in order."""

    events: list[Message] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    _arrived: anyio.Event = field(default_factory=anyio.Event)

    async def read(self, response: httpx.Response) -> None:
        # Split at LF ourselves: httpx's line reader would also break at U+2028 and other
        # characters that SSE does not treat as line ends.
        pending = b""
        async for chunk in response.aiter_raw():
            *complete, pending = (pending + chunk).split(b"\n\n")
            for block in complete:
                self._dispatch(block.decode())

    def _dispatch(self, block: str) -> None:
        self.blocks.append(block)
        self._arrived.set()
        self._arrived = anyio.Event()
        if block.startswith((":", "retry: ")):
            assert "\n" not in block, block
            return
        # Exactly three fields a message: the data is on one line.
        ident, event, data = block.split("\n")
        assert ident.startswith("id: "), block
        assert event.startswith("event: "), block
        assert data.startswith("data: "), block
        self.events.append(Message(ident[4:], event[7:], orjson.loads(data[6:])))

    async def until(self, done: Callable[[], bool], seconds: float = WAIT) -> None:
        with anyio.fail_after(seconds):
            while not done():
                await self._arrived.wait()

    async def first(self, count: int) -> list[Message]:
        """The first ``count`` events, once they have arrived."""
        await self.until(lambda: len(self.events) >= count)
        return self.events[:count]

    async def started(self) -> None:
        """Once the server has sent the retry hint: the stream is being followed."""
        await self.until(lambda: bool(self.blocks))
        assert self.blocks[0] == "retry: 2000"


@asynccontextmanager
async def streaming(
    url: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Messages]:
    """An open stream being read; closed (the client goes away) at the end."""
    timeout = httpx.Timeout(WAIT, read=None)
    async with (
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=timeout) as client,
        client.stream("GET", STREAM, params=params or {}, headers=headers or {}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        messages = Messages()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(messages.read, response)
            try:
                yield messages
            finally:
                tasks.cancel_scope.cancel()


# --- making events ---------------------------------------------------------------------


def api(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{url}/api", headers=AUTH, timeout=WAIT)


async def logged(client: httpx.AsyncClient, after: int = 0, **filters: Any) -> list[dict[str, Any]]:
    """``GET /api/events`` after ``after``, every page."""
    found: list[dict[str, Any]] = []
    cursor = str(after)
    while True:
        r = await client.get("/events", params={"after": cursor, "limit": 1000, **filters})
        assert r.status_code == 200, r.text
        page = r.json()
        found += page["_embedded"]["events"]
        cursor = page["cursor"]["next"]
        if not page["cursor"]["hasMore"]:
            return found


async def mark(client: httpx.AsyncClient) -> int:
    """The newest position: a test streams and compares only what comes after it."""
    events = await logged(client)
    return int(events[-1]["seq"]) if events else 0


async def customer(client: httpx.AsyncClient) -> None:
    """One ``customer.created``."""
    body = {"firstName": "Streamed", "email": f"s{next(_emails)}@example.com"}
    r = await client.post("/customers", json=body)
    assert r.status_code == 201, r.text


async def mailbox(client: httpx.AsyncClient) -> int:
    """A mailbox (no event)."""
    body = {"name": "Stream", "email": f"box{next(_emails)}@example.com"}
    r = await client.post("/mailboxes", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def conversation(client: httpx.AsyncClient, box: int) -> int:
    """``customer.created`` and ``convo.created``."""
    body = {
        "type": "email",
        "mailboxId": box,
        "subject": "Streaming",
        "customer": {"email": f"c{next(_emails)}@example.com"},
        "threads": [{"type": "customer", "text": "Line one\nline two\u2028and a separator"}],
    }
    r = await client.post("/conversations", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def user(client: httpx.AsyncClient) -> int:
    """An agent (no event)."""
    body = {"firstName": "Agent", "lastName": "S", "email": f"u{next(_emails)}@example.com"}
    r = await client.post("/users", json=body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def close(client: httpx.AsyncClient, convo: int, agent: int) -> None:
    """``convo.status``."""
    r = await client.put(f"/conversations/{convo}", json={"status": "closed", "byUser": agent})
    assert r.status_code == 204, r.text


def as_logged(messages: list[Message]) -> list[dict[str, Any]]:
    """The events, after checking each message's ``id`` and ``event`` against its data."""
    for m in messages:
        assert m.id == str(m.data["seq"])
        assert m.event == m.data["type"]
    return [m.data for m in messages]


# --- the tests -------------------------------------------------------------------------


def test_the_stream_holds_the_log_in_commit_order(server: Served) -> None:
    async def scenario() -> None:
        async with api(server.url) as client:
            box = await mailbox(client)
            for _ in range(3):
                await conversation(client, box)
            everything = await logged(client)
            async with streaming(server.url) as stream:
                await stream.started()
                got = await stream.first(len(everything))
            assert as_logged(got) == everything
            assert len(everything) >= 6

    anyio.run(scenario)


def test_an_event_made_after_the_stream_opened_arrives_within_seconds(server: Served) -> None:
    async def scenario() -> None:
        async with api(server.url) as client:
            start = await mark(client)
            # As an EventSource would: the key in the query string, since it sends no headers.
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(WAIT, read=None)) as c,
                c.stream("GET", STREAM, params={"after": str(start), "api_key": KEY}) as r,
            ):
                assert r.status_code == 200
                stream = Messages()
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(stream.read, r)
                    await stream.started()
                    await customer(client)
                    got = await stream.first(1)
                    tasks.cancel_scope.cancel()
            assert as_logged(got) == await logged(client, start)
            assert got[0].event == "customer.created"

    anyio.run(scenario)


FILTERS: list[dict[str, str]] = [
    {"type": "convo.created,convo.status"},
    {"mailboxId": "BOX"},
    {"conversationId": "CONVO"},
    {"mailboxId": "BOX", "type": "convo.status"},
]


def test_filters_keep_exactly_what_the_log_keeps(server: Served) -> None:
    async def scenario() -> None:
        async with api(server.url) as client, AsyncExitStack() as opened:
            box, other, agent = await mailbox(client), await mailbox(client), await user(client)
            first = await conversation(client, box)
            start = await mark(client)
            names = {"BOX": str(box), "CONVO": str(first)}
            filters = [{k: names.get(v, v) for k, v in f.items()} for f in FILTERS]
            streams = [
                await opened.enter_async_context(streaming(server.url, {"after": str(start), **f}))
                for f in filters
            ]
            for stream in streams:
                await stream.started()
            # Interleaved: events a filter must drop come between those it keeps, so a
            # leak shows as a difference rather than as a tail nobody waits for.
            second = await conversation(client, other)
            await close(client, second, agent)
            await close(client, first, agent)
            await conversation(client, box)
            await customer(client)
            everything = await logged(client, start)
            for f, stream in zip(filters, streams, strict=True):
                want = await logged(client, start, **f)
                assert 0 < len(want) < len(everything), f
                assert as_logged(await stream.first(len(want))) == want, f

    anyio.run(scenario)


def test_reconnecting_resumes_right_after_the_last_event_seen(server: Served) -> None:
    """``after``, then ``Last-Event-ID`` (over a stale ``after``), in turns, while two
    writers keep committing; each connection is dropped after a few events, as a client
    that dies would: every event once, in order, none lost to a reconnect."""
    writes = 12

    async def scenario() -> None:
        async with api(server.url) as client:
            box = await mailbox(client)
            start = await mark(client)
            seen: list[Message] = []
            rounds = 0

            async def write() -> None:
                for _ in range(writes):
                    await conversation(client, box)
                    await anyio.sleep(0.05)  # spread the writes over many reconnects

            async def read(total: int) -> None:
                nonlocal rounds
                while len(seen) < total:
                    cursor = seen[-1].id if seen else str(start)
                    if rounds % 2:
                        params, headers = {"after": str(start)}, {"Last-Event-ID": cursor}
                    else:
                        params, headers = {"after": cursor}, {}
                    async with streaming(server.url, params, headers) as stream:
                        # The client goes away after 1 to 5 events, whatever else arrived.
                        seen.extend(await stream.first(min(1 + rounds % 5, total - len(seen))))
                    rounds += 1

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(write)
                tasks.start_soon(write)
                # Each conversation makes two events: customer.created, convo.created.
                tasks.start_soon(read, 4 * writes)
            assert as_logged(seen) == await logged(client, start)
            assert len(seen) == 4 * writes
            assert rounds >= 10

    anyio.run(scenario)


def test_a_quiet_stream_sends_a_keep_alive_comment(server: Served) -> None:
    async def scenario() -> None:
        async with api(server.url) as client:
            start = await mark(client)
        # A type no test here makes: the stream stays quiet.
        async with streaming(server.url, {"after": str(start), "type": "webhook.lagging"}) as s:
            await s.until(lambda: ": keep-alive" in s.blocks, 15 + WAIT)
            assert s.blocks[:2] == ["retry: 2000", ": keep-alive"]
            assert s.events == []

    anyio.run(scenario)


BAD = [
    ({"after": "abc"}, {}, "after", "query"),
    ({"after": "-1"}, {}, "after", "query"),
    ({"after": "1.5"}, {}, "after", "query"),
    ({"after": "²"}, {}, "after", "query"),
    ({"after": ""}, {}, "after", "query"),
    ({"after": str(2**63)}, {}, "after", "query"),
    ({"type": "convo.created,convo.exploded"}, {}, "type", "query"),
    ({"mailboxId": "x"}, {}, "mailboxId", "query"),
    ({"mailboxId": str(2**63)}, {}, "mailboxId", "query"),
    ({"conversationId": "1.5"}, {}, "conversationId", "query"),
    ({"conversationId": str(-(2**63) - 1)}, {}, "conversationId", "query"),
    ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID", "header"),
    ({}, {"Last-Event-ID": ""}, "Last-Event-ID", "header"),
    ({}, {"Last-Event-ID": str(2**64)}, "Last-Event-ID", "header"),
    ({"after": "5"}, {"Last-Event-ID": "5x"}, "Last-Event-ID", "header"),
    ({"after": "x"}, {"Last-Event-ID": "5"}, "after", "query"),
]


@pytest.mark.parametrize(("query", "headers", "path", "source"), BAD)
def test_bad_input_is_refused_before_the_stream_begins(
    server: Served, query: dict[str, str], headers: dict[str, str], path: str, source: str
) -> None:
    with httpx.stream(
        "GET", server.url + STREAM, params=query, headers={**AUTH, **headers}, timeout=WAIT
    ) as r:
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/json"
        body = orjson.loads(r.read())
    assert body["message"] == "Error occurred"
    [error] = body["_embedded"]["errors"]
    assert (error["path"], error["source"]) == (path, source)


@pytest.mark.parametrize(
    ("query", "headers"),
    [({}, {}), ({}, {"X-FreeScout-API-Key": "wrong"}), ({"api_key": "wrong"}, AUTH)],
)
def test_no_key_no_stream(server: Served, query: dict[str, str], headers: dict[str, str]) -> None:
    with httpx.stream("GET", server.url + STREAM, params=query, headers=headers, timeout=WAIT) as r:
        assert r.status_code == 401
        assert orjson.loads(r.read()) == {"message": "Not Authorized"}


def _stream_lines(log: Path, text: str) -> int:
    return sum(text in line for line in log.read_text().splitlines())


def test_a_client_that_goes_away_is_let_go(own_server: Served) -> None:
    """Streams closed by their clients, idle or busy, end on the server (each logs its
    end), the server goes on serving, and stops cleanly."""

    async def scenario() -> None:
        async with api(own_server.url) as client:
            box = await mailbox(client)
            for _ in range(3):
                await conversation(client, box)
            for cycle in range(6):
                # Even cycles leave a stream that was sending, odd ones an idle one.
                params = {"after": "0"} if cycle % 2 == 0 else {"after": "999999"}
                async with streaming(own_server.url, params) as stream:
                    await stream.started()
                    if cycle % 2 == 0:
                        await stream.first(1)
            start = await mark(client)
            async with streaming(own_server.url, {"after": str(start)}) as stream:
                await stream.started()
                await customer(client)
                assert as_logged(await stream.first(1)) == await logged(client, start)

    anyio.run(scenario)
    wait_for(
        "every stream to end on the server",
        lambda: _stream_lines(own_server.log, "event stream closed") == 7,
        timeout=WAIT,
    )
    assert _stream_lines(own_server.log, "event stream opened") == 7
    assert terminate(own_server.proc) == 0
    assert "Traceback" not in own_server.log.read_text()


def test_stopping_the_server_ends_open_streams(own_server: Served) -> None:
    async def scenario() -> None:
        async with streaming(own_server.url, {"after": "999999"}) as stream:
            await stream.started()
            own_server.proc.terminate()
            code = await anyio.to_thread.run_sync(lambda: own_server.proc.wait(WAIT))
            assert code == 0

    anyio.run(scenario)
