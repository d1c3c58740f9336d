"""Helpers for the receiver's tests (this module holds no tests).

- ``delivery``: a delivery's body and headers, signed by Tidings' own signing functions;
- ``serving``: an ASGI app served by uvicorn on 127.0.0.1, in a thread;
- ``tidings_server``: a real Tidings app (API, worker and webhook dispatcher) on a fresh
  SQLite file, served on 127.0.0.1, with ``api`` an httpx client holding its key;
- ``FakeClock``: a clock that moves when told to.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tidings.webhooks.signing import freescout_signature, standard_signatures

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
INSTANCE_SECRET = "the-instance-secret"
KEY = "receiver-tests-key"
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def delivery(
    data: Any,
    *,
    event_id: str = "evt_1",
    event_type: str = "convo.created",
    seq: int | None = 1,
    webhook_id: int | None = 1,
    sequence: int | None = None,
    message_id: str | None = None,
    timestamp: datetime = START,
    secrets: tuple[str, ...] = (SECRET,),
) -> tuple[bytes, dict[str, str]]:
    """``(body, headers)`` as Tidings sends them (``data`` as compact JSON unless bytes)."""
    body = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    message_id = message_id or f"msg_{event_id}"
    stamp = int(timestamp.timestamp())
    headers = {
        "Content-Type": "application/json",
        "X-FreeScout-Event": event_type,
        "X-FreeScout-Signature": freescout_signature(body, INSTANCE_SECRET),
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": standard_signatures(message_id, stamp, body, list(secrets)),
        "X-Tidings-Event-Id": event_id,
    }
    optional = {
        "X-Tidings-Event-Seq": seq,
        "X-Tidings-Webhook-Id": webhook_id,
        "X-Tidings-Sequence": sequence,
    }
    headers.update({name: str(value) for name, value in optional.items() if value is not None})
    return body, headers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: Any, *, lifespan: str = "on") -> Iterator[str]:
    """``app`` on 127.0.0.1 (uvicorn in a thread); its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Tidings:
    url: str  # the server's base URL; the API is under /api
    api: httpx.Client
    app: Any

    def post(self, path: str, body: Any) -> Any:
        r = self.api.post(path, json=body)
        assert r.status_code in (200, 201, 202, 204), r.text
        return r.json() if r.content else None

    def events(self, after: int = 0) -> list[dict[str, Any]]:
        """The whole log after ``after``."""
        found: list[dict[str, Any]] = []
        cursor = str(after)
        while True:
            page = self.api.get("/events", params={"after": cursor, "limit": 1000}).json()
            found += page["_embedded"]["events"]
            cursor = page["cursor"]["next"]
            if not page["cursor"]["hasMore"]:
                return found

    def mark(self) -> int:
        """The log's current end."""
        events = self.events()
        return int(events[-1]["seq"]) if events else 0


@contextmanager
def tidings_server(directory: Path, **settings: Any) -> Iterator[Tidings]:
    """A real Tidings (API, operation worker, webhook dispatcher) on a fresh SQLite file,
    whose webhooks may target 127.0.0.1 and retry at once."""
    from tidings.app import create_app
    from tidings.config import Settings

    values = {
        "database_url": f"sqlite:///{directory / 'tidings.db'}",
        "api_key": KEY,
        "webhook_allowed_networks": "127.0.0.0/8",
        "webhook_secret": INSTANCE_SECRET,
        "retry_schedule": "0,0.2",
        "worker_poll_seconds": 0.05,
        **settings,
    }
    app = create_app(Settings(**values))
    with (
        serving(app) as url,
        httpx.Client(
            base_url=f"{url}/api", headers={"X-FreeScout-API-Key": KEY}, timeout=30
        ) as api,
    ):
        yield Tidings(url, api, app)


def configure_django() -> None:
    """Django's settings, once per process: a URL configuration is set per test."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            ALLOWED_HOSTS=["testserver"],
            SECRET_KEY="tests",
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            USE_TZ=True,
        )
        django.setup()


def wait_for(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
