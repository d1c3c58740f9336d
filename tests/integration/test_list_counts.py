"""List totals stay exact although counts are remembered between requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tidings.app import create_app
from tidings.config import Settings

H = {"X-FreeScout-API-Key": "k"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=database_url, api_key="k", run_workers=False))
    with TestClient(app) as c:
        yield c


def _total(client: TestClient, query: str = "") -> int:
    r = client.get(f"/api/conversations?pageSize=2{query}", headers=H)
    assert r.status_code == 200
    total: int = r.json()["page"]["totalElements"]
    return total


def test_totals_follow_every_change(client: TestClient) -> None:
    client.post(
        "/api/users", json={"firstName": "A", "lastName": "B", "email": "a@e.io"}, headers=H
    )
    box = client.post("/api/mailboxes", json={"name": "S", "email": "s@e.io"}, headers=H).json()[
        "id"
    ]

    def create(i: int) -> int:
        body = {
            "type": "email",
            "mailboxId": box,
            "subject": f"S{i}",
            "customer": {"email": f"c{i}@e.io"},
            "threads": [{"type": "customer", "text": "hi"}],
        }
        convo_id: int = client.post("/api/conversations", json=body, headers=H).json()["id"]
        return convo_id

    ids = [create(i) for i in range(5)]
    assert _total(client) == 5
    assert _total(client) == 5  # answered from memory: nothing changed
    create(5)
    assert _total(client) == 6
    client.put(f"/api/conversations/{ids[0]}", json={"state": "deleted", "byUser": 1}, headers=H)
    assert _total(client) == 5
    assert _total(client, "&state=deleted") == 1
    client.put(f"/api/conversations/{ids[1]}", json={"status": "closed", "byUser": 1}, headers=H)
    assert _total(client, "&status=active") == 4
    client.delete(f"/api/conversations/{ids[2]}", headers=H)
    assert _total(client) == 4
