"""The ``tidings`` command as a user runs it: a real server process and real CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

pytestmark = pytest.mark.acceptance

TIDINGS = str(Path(sys.executable).with_name("tidings"))
KEY = "acceptance-key"


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TIDINGS_DATABASE_URL": database_url, "TIDINGS_API_KEY": KEY}
    proc = subprocess.Popen(
        [TIDINGS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tidings serve exited early"
        try:
            httpx.get(f"{url}/api/mailboxes", headers={"X-FreeScout-API-Key": KEY}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("tidings serve did not start within 30 s")


def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-FreeScout-API-Key": KEY}, timeout=10)


def _seed(url: str, count: int) -> list[int]:
    with _api(url) as api:
        api.post("/api/users", json={"firstName": "Ada", "lastName": "A", "email": "a@e.io"})
        mailbox = api.post("/api/mailboxes", json={"name": "S", "email": "s@e.io"}).json()["id"]
        return [
            api.post(
                "/api/conversations",
                json={
                    "type": "email",
                    "mailboxId": mailbox,
                    "subject": f"Q{i}",
                    "customer": {"email": f"c{i}@e.io"},
                    "threads": [{"type": "customer", "text": "hi"}],
                },
            ).json()["id"]
            for i in range(count)
        ]


def _cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIDINGS, "conversations", "bulk", *args, "--url", url, "--api-key", KEY],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _types(url: str) -> list[str]:
    with _api(url) as api:
        return [e["type"] for e in api.get("/api/events?limit=1000").json()["_embedded"]["events"]]


def test_bulk_delete_then_delete_forever_from_the_command_line(server: str) -> None:
    ids = _seed(server, 5)
    ids_arg = ",".join(map(str, ids))

    done = _cli(server, "delete", "--ids", ids_arg, "--by-user", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 succeeded, 0 failed" in done.stdout
    assert _types(server).count("convo.deleted") == 5

    refused = _cli(server, "delete_forever", "--ids", ids_arg, stdin="n\n")
    assert refused.returncode == 1
    assert "convo.deleted_forever" not in _types(server)

    forever = _cli(server, "delete_forever", "--ids", ids_arg, "--yes")
    assert forever.returncode == 0, forever.stdout + forever.stderr
    types = _types(server)
    assert types.count("convo.deleted_forever") == 5
    assert types[-1] == "operation.completed"


def test_help_explains_every_command() -> None:
    out = subprocess.run([TIDINGS, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "worker", "migrate", "demo", "api-key", "conversations"):
        assert command in out
