"""Fixtures for the API tests: an app on the test's database and a seeded desk.

``client`` speaks to the app through :class:`ApiClient` (which fails the test on any
5xx), with the API key header set. ``desk`` seeds an admin and an agent (users are
created through the desk service: the API creates regular users only), two mailboxes
through ``POST /api/mailboxes`` and one customer through ``POST /api/customers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.support import HEADERS, ApiClient, Desk, FakeClock, count_rows
from tidings.app import create_app
from tidings.config import Settings
from tidings.db import schema
from tidings.db.engine import Database
from tidings.desk import users
from tidings.desk.enums import Role
from tidings.events.outbox import transaction


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra ``Settings`` for one test; override the fixture (or parametrize it) there."""
    return {}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(
    database_url: str, settings_overrides: dict[str, Any], clock: FakeClock
) -> Iterator[FastAPI]:
    # No dispatcher: the API tests subscribe public addresses, and nothing may leave 127.0.0.1.
    overrides = {"run_dispatcher": False, **settings_overrides}
    settings = Settings(
        database_url=database_url, api_key="test-key", run_workers=False, **overrides
    )
    application = create_app(settings, clock)
    yield application
    # The lifespan disposes of the engine, but only when a client was started.
    application.state.ctx.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[ApiClient]:
    with ApiClient(app, headers=HEADERS, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[ApiClient]:
    """A client that sends no API key."""
    with ApiClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def desk(client: ApiClient, db: Database, clock: FakeClock) -> Desk:
    with transaction(db, clock) as tx:
        admin = users.create_user(
            tx, {"firstName": "Ada", "lastName": "Admin", "email": "ada@desk.example"}, Role.ADMIN
        )
        agent = users.create_user(
            tx, {"firstName": "Abe", "lastName": "Agent", "email": "abe@desk.example"}
        )
    mailboxes = []
    for name, email in (("Support", "support@desk.example"), ("Billing", "billing@desk.example")):
        response = client.post("/api/mailboxes", json={"name": name, "email": email})
        assert response.status_code == 201, response.text
        mailboxes.append(response.json()["id"])
    response = client.post(
        "/api/customers",
        json={"firstName": "Cleo", "lastName": "Customer", "email": "cleo@example.com"},
    )
    assert response.status_code == 201, response.text
    return Desk(
        admin=admin,
        agent=agent,
        mailbox=mailboxes[0],
        mailbox2=mailboxes[1],
        customer=response.json()["id"],
        customer_email="cleo@example.com",
    )


@pytest.fixture
def counts(db: Database) -> Any:
    """``counts()`` -> rows per table, to prove a failed request changed nothing."""

    def take() -> dict[str, int]:
        return {
            name: count_rows(db, table)
            for name, table in schema.metadata.tables.items()
            if name != "alembic_version"
        }

    return take
