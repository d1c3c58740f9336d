"""A bulk delete survives ``kill -9`` half-way: every conversation announced exactly once.

A real ``tidings serve`` process runs a 20,000-conversation delete in chunks of 500;
it is SIGKILLed while the operation is part-way through, and a new process (after the
short worker lease expires) resumes from the last committed chunk. The log must then
hold exactly one ``convo.deleted`` per conversation, one ``operation.started`` and one
``operation.completed``: the chunk in flight at the kill rolled back whole, events and all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests import helpers
from tests.helpers import gone
from tidings.db.engine import Database
from tidings.db.schema import conversations, events, threads
from tidings.desk.enums import State
from tidings.operations.confirm import ids_digest

pytestmark = pytest.mark.acceptance

TOTAL = 20_000
CHUNK = 500
WAIT = 120.0
KEY = "k"
TIDINGS = Path(sys.executable).with_name("tidings")


def seed(database_url: str) -> list[int]:
    return helpers.seed(database_url, TOTAL)[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def server(database_url: str, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_API_KEY": KEY,
        "TIDINGS_OPERATION_CHUNK_SIZE": str(CHUNK),
        "TIDINGS_WORKER_LEASE_SECONDS": "2",
        "TIDINGS_WORKER_POLL_SECONDS": "0.1",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(TIDINGS), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/api/mailboxes"

        def up() -> bool:
            assert proc.poll() is None, f"server exited with {proc.returncode}: {log.read_text()}"
            try:
                return httpx.get(url, headers={"X-FreeScout-API-Key": KEY}).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("the server to answer", up, 60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)


def operation(client: httpx.Client, op_id: str) -> dict[str, Any]:
    r = client.get(f"/operations/{op_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def finished(client: httpx.Client, op_id: str) -> dict[str, Any]:
    """The operation once it has completed or failed."""
    done: dict[str, Any] = wait_for(
        "the operation to complete",
        lambda: (op := operation(client, op_id))["status"] in ("completed", "failed") and op,
    )
    return done


def test_bulk_delete_resumes_after_sigkill(
    database_url: str, free_port: int, tmp_path: Path
) -> None:
    ids = seed(database_url)
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{free_port}/api"
    client = httpx.Client(base_url=base, headers={"X-FreeScout-API-Key": KEY}, timeout=30)
    try:
        with server(database_url, free_port, log) as proc:
            r = client.post("/operations", json={"action": "delete", "conversationIds": ids})
            assert r.status_code == 202, r.text
            op_id = r.json()["id"]
            at_kill = wait_for(
                "the first chunk to commit",
                lambda: (op := operation(client, op_id))["processed"] > 0 and op,
            )
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        killed_at = operation_row_processed(database_url, op_id)
        assert 0 < killed_at < TOTAL, f"killed too late to test anything: {killed_at}"
        assert at_kill["status"] == "running"

        with server(database_url, free_port, log):
            done = finished(client, op_id)
        assert done["status"] == "completed", done
    finally:
        client.close()

    assert done["processed"] == TOTAL
    assert done["succeeded"] == TOTAL
    assert done["failed"] == 0
    assert done["digest"] == ids_digest(ids)

    db = Database(database_url)
    try:
        with db.read() as conn:
            per_type = dict(
                conn.execute(
                    select(events.c.type, func.count())
                    .where(events.c.operation_id == op_id)
                    .group_by(events.c.type)
                ).all()
            )
            deleted_ids = list(
                conn.execute(
                    select(events.c.conversation_id).where(events.c.type == "convo.deleted")
                ).scalars()
            )
            states = dict(
                conn.execute(
                    select(conversations.c.state, func.count()).group_by(conversations.c.state)
                ).all()
            )
    finally:
        db.dispose()
    assert len(deleted_ids) == TOTAL
    assert len(set(deleted_ids)) == TOTAL
    assert set(deleted_ids) == set(ids)
    assert per_type["convo.deleted"] == TOTAL
    assert per_type["operation.started"] == 1
    assert per_type["operation.completed"] == 1
    assert set(per_type) <= {
        "operation.started",
        "operation.progress",
        "operation.completed",
        "convo.deleted",
    }
    assert states == {State.DELETED: TOTAL}


def operation_row_processed(database_url: str, op_id: str) -> int:
    from tidings.db.schema import operations

    db = Database(database_url)
    try:
        with db.read() as conn:
            return int(
                conn.execute(
                    select(operations.c.processed).where(operations.c.id == op_id)
                ).scalar_one()
            )
    finally:
        db.dispose()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_an_idle_server_is_one_process(database_url: str, free_port: int, tmp_path: Path) -> None:
    """``tidings serve`` with nothing to do starts no other process (ADR 0016)."""
    with server(database_url, free_port, tmp_path / "server.log") as proc:
        time.sleep(1)  # the worker has polled for operations
        assert descendants(proc.pid) == set()


def children_of(pid: int) -> set[int]:
    """The live processes directly below ``pid``."""
    found: set[int] = set()
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(k) for k in children.read_text().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children listed by the kernel, recursively)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        kids = children_of(todo.pop())
        found.update(kids)
        todo.extend(kids)
    return found


def test_bulk_delete_forever_resumes_after_sigkill_and_leaves_no_child(
    database_url: str, free_port: int, tmp_path: Path
) -> None:
    """The same with delete forever, whose snapshots a child process reads ahead (ADR
    0016): killing the server kills no event, and the child does not outlive it."""
    ids = seed(database_url)
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{free_port}/api"
    client = httpx.Client(base_url=base, headers={"X-FreeScout-API-Key": KEY}, timeout=30)
    body = {"action": "delete_forever", "conversationIds": ids}
    try:
        with server(database_url, free_port, log) as proc:
            plan = client.post("/operations", json={**body, "dryRun": True})
            assert plan.status_code == 200, plan.text
            r = client.post(
                "/operations", json={**body, "confirmToken": plan.json()["confirmToken"]}
            )
            assert r.status_code == 202, r.text
            op_id = r.json()["id"]
            wait_for(
                "the first chunk to commit",
                lambda: operation(client, op_id)["processed"] > 0,
            )
            children = descendants(proc.pid)
            spawned = [pid for pid in children if "spawn_main" in command_line(pid)]
            assert spawned, "no snapshot child running"
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            wait_for("the server's children to exit", lambda: all(map(gone, children)), 30)
        killed_at = operation_row_processed(database_url, op_id)
        assert 0 < killed_at < TOTAL, f"killed too late to test anything: {killed_at}"

        with server(database_url, free_port, log):
            done = finished(client, op_id)
        assert done["status"] == "completed", done
    finally:
        client.close()
    assert done["processed"] == TOTAL
    assert done["digest"] == ids_digest(ids)

    db = Database(database_url)
    try:
        with db.read() as conn:
            announced = list(
                conn.execute(
                    select(events.c.conversation_id).where(events.c.type == "convo.deleted_forever")
                ).scalars()
            )
            left = conn.execute(select(func.count()).select_from(conversations)).scalar_one()
            left_threads = conn.execute(select(func.count()).select_from(threads)).scalar_one()
    finally:
        db.dispose()
    assert sorted(announced) == sorted(ids)  # each exactly once
    assert left == 0
    assert left_threads == 0
