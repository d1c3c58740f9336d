"""SIGTERM stops ``tidings worker`` mid-operation gracefully: the chunk in flight ends,
the operation's lease is given back, exit 0; the next worker resumes at once and
finishes it, every conversation deleted (and announced) exactly once.

The workers' lease is ten minutes long: only a lease given back lets the second worker
resume within the test's time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests import helpers
from tests.acceptance.processes import (
    api,
    environment,
    running,
    terminate,
    wait_for,
    wait_for_line,
    wait_until_up,
)
from tidings.db.engine import Database
from tidings.db.schema import operations

pytestmark = pytest.mark.acceptance

TOTAL = 3000
CHUNK = 20


def _operation(client: httpx.Client, op_id: str) -> dict[str, Any]:
    r = client.get(f"/api/operations/{op_id}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def _events(client: httpx.Client, op_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = "0"
    while True:
        query = {"operationId": op_id, "after": after, "limit": 1000}
        page = client.get("/api/events", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["_embedded"]["events"]
        after = page.json()["cursor"]["next"]
        if not page.json()["cursor"]["hasMore"]:
            return found


def _lease_owner(database_url: str, op_id: str) -> str | None:
    db = Database(database_url)
    try:
        with db.read() as conn:
            owner = conn.execute(
                select(operations.c.lease_owner).where(operations.c.id == op_id)
            ).scalar_one()
    finally:
        db.dispose()
    return None if owner is None else str(owner)


def test_sigterm_stops_a_worker_mid_operation_and_the_next_resumes_it(
    database_url: str, free_port: int, tmp_path: Path
) -> None:
    _, ids = helpers.seed(database_url, TOTAL)
    env = environment(
        database_url,
        operation_chunk_size=str(CHUNK),
        worker_lease_seconds="600",
        worker_poll_seconds="0.1",
    )
    url = f"http://127.0.0.1:{free_port}"
    serve_log, first_log, second_log = (tmp_path / f"{n}.log" for n in ("serve", "w1", "w2"))
    api_only = {**env, "TIDINGS_RUN_WORKERS": "false"}
    with (
        running(["serve", "--port", str(free_port)], api_only, serve_log) as serve,
        api(url) as client,
    ):
        wait_until_up(url, serve, serve_log)
        with running(["worker"], env, first_log) as first:
            wait_for_line(first_log, "running on", first)
            r = client.post("/api/operations", json={"action": "delete", "conversationIds": ids})
            assert r.status_code == 202, r.text
            op_id = r.json()["id"]
            wait_for("a few chunks", lambda: _operation(client, op_id)["processed"] >= 5 * CHUNK)
            assert terminate(first) == 0

        stopped = _operation(client, op_id)
        assert stopped["status"] == "running"
        assert 0 < stopped["processed"] < TOTAL, "the operation ended before the SIGTERM"
        assert stopped["processed"] % CHUNK == 0  # the chunk in flight ended whole
        assert _lease_owner(database_url, op_id) is None
        assert first_log.read_text().splitlines()[-1] == "Worker stopped."

        with running(["worker"], env, second_log) as second:
            done = wait_for(
                "the operation to complete",
                lambda: (op := _operation(client, op_id))["status"] != "running" and op,
            )
            assert terminate(second) == 0
        assert done["status"] == "completed"
        assert (done["processed"], done["succeeded"], done["failed"]) == (TOTAL, TOTAL, 0)
        found = _events(client, op_id)
        assert terminate(serve) == 0
    types = Counter(e["type"] for e in found)
    assert types["operation.started"] == 1
    assert types["operation.completed"] == 1
    deleted = [e["entity"]["id"] for e in found if e["type"] == "convo.deleted"]
    assert sorted(deleted) == ids  # each conversation exactly once
    for log in (serve_log, first_log, second_log):
        assert "Traceback" not in log.read_text()
