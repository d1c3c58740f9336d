"""Shared helpers for the event and operation tests (this module holds no tests).

``desk_app`` builds a real app on the test's database (no workers), ``Desk`` drives
it through the public API, ``FakeClock`` is the one thing tests may control, and the
``fail_*`` helpers plant real database triggers that make one statement fail.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from tidings.app import create_app
from tidings.config import Settings
from tidings.db.engine import Database
from tidings.db.schema import events

with warnings.catch_warnings():
    # starlette.testclient warns at import when it falls back to httpx (not httpx2).
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

H = {"X-FreeScout-API-Key": "k"}


class FakeClock:
    """A clock that moves only when told to (or by ``step`` on every reading)."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(0)) -> None:
        self.now = start or datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        value = self.now
        self.now += self.step
        return value

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Desk:
    """The public API, spoken through a TestClient."""

    client: TestClient
    app: Any
    settings: Settings
    _n: int = field(default=0)

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    def _next(self) -> int:
        self._n += 1
        return self._n

    # --- plain HTTP -------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api{path}", params=params, headers=H)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api{path}", json=body, headers=H)

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(f"/api{path}", json=body, headers=H)

    def delete(self, path: str, **params: Any) -> Any:
        return self.client.delete(f"/api{path}", params=params, headers=H)

    def delete_mailbox(self, mailbox_id: int) -> Any:
        """DELETE a mailbox the way a client must: dry run, then the confirm token."""
        plan = self.delete(f"/mailboxes/{mailbox_id}", dryRun="true")
        if plan.status_code != 200:
            return plan
        return self.delete(f"/mailboxes/{mailbox_id}", confirmToken=plan.json()["confirmToken"])

    # --- desk objects -------------------------------------------------------------

    def user(self, first: str = "Ann") -> int:
        n = self._next()
        r = self.post(
            "/users", {"firstName": first, "lastName": f"L{n}", "email": f"user{n}@example.com"}
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def mailbox(self, name: str = "Support") -> int:
        n = self._next()
        r = self.post("/mailboxes", {"name": name, "email": f"box{n}@example.com"})
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def conversation(
        self,
        mailbox_id: int,
        *,
        customer: str = "cust@example.com",
        text: str = "Hello",
        subject: str = "Help",
        **extra: Any,
    ) -> int:
        body = {
            "type": "email",
            "mailboxId": mailbox_id,
            "subject": subject,
            "customer": {"email": customer},
            "threads": [{"type": "customer", "text": text}],
            **extra,
        }
        r = self.post("/conversations", body)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def convo(self, convo_id: int) -> Any:
        r = self.get(f"/conversations/{convo_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def reply(self, convo_id: int, body: dict[str, Any]) -> Any:
        r = self.post(f"/conversations/{convo_id}/threads", body)
        assert r.status_code == 201, r.text
        return r.json()

    def update(self, convo_id: int, body: dict[str, Any]) -> None:
        r = self.put(f"/conversations/{convo_id}", body)
        assert r.status_code == 204, r.text

    # --- the event log -------------------------------------------------------------

    def events(self, after: int = 0, **params: Any) -> list[dict[str, Any]]:
        """Every event after ``after``, following the cursor to the end."""
        found: list[dict[str, Any]] = []
        cursor = str(after)
        while True:
            r = self.get("/events", after=cursor, limit=1000, **params)
            assert r.status_code == 200, r.text
            page = r.json()
            found += page["_embedded"]["events"]
            cursor = page["cursor"]["next"]
            if not page["cursor"]["hasMore"]:
                return found

    def mark(self) -> int:
        """The current end of the log: pass it as ``after`` to see only what follows."""
        with self.ctx.db.read() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())

    def types(self, after: int = 0, **params: Any) -> list[str]:
        return [e["type"] for e in self.events(after, **params)]

    def runner(self) -> Any:
        from tidings.operations.runner import Runner

        return Runner(self.ctx.db, self.ctx.clock, self.settings)

    def run_operations(self) -> None:
        runner = self.runner()
        while runner.run_once():
            pass


@contextmanager
def desk_app(
    database_url: str,
    clock: Any = None,
    *,
    raise_server_exceptions: bool = True,
    **settings: Any,
) -> Iterator[Desk]:
    s = Settings(database_url=database_url, api_key="k", run_workers=False, **settings)
    app = create_app(s, clock) if clock is not None else create_app(s)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield Desk(client, app, s)


# FreeScout's body for a 500: what a change the database refused answers.
INTERNAL_ERROR = {"message": "Internal Server Error", "_embedded": {"errors": []}}


def assert_failed(r: Any) -> None:
    assert r.status_code == 500, r.text
    assert r.json() == INTERNAL_ERROR


def submit(desk: Desk, body: dict[str, Any]) -> str:
    """Queue an operation; its id."""
    r = desk.post("/operations", body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    assert r.headers["Resource-ID"] == r.json()["id"]
    return str(r.json()["id"])


def count_events(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


# --- real failures planted in the database -------------------------------------------


def _plant(db: Database, name: str, table: str, timing: str, condition_sql: str) -> None:
    """A trigger ``name`` on ``table`` that raises 'boom <name>' when the condition holds.

    ``condition_sql`` is written against ``NEW``/``OLD`` and is valid on both dialects.
    """
    with db.write() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW WHEN {condition_sql}"
                f" BEGIN SELECT RAISE(ABORT, 'boom {name}'); END"
            )
        else:
            conn.exec_driver_sql(
                f"CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF {condition_sql} THEN RAISE EXCEPTION 'boom {name}'; END IF;"
                f" RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW"
                f" EXECUTE FUNCTION {name}_fn()"
            )


def fail_on_event(
    db: Database, event_type: str, conversation_id: int | None = None, name: str = "fail_event"
) -> None:
    """Appending an event of this type (about this conversation) to the outbox fails."""
    condition = f"NEW.type = '{event_type}'"
    if conversation_id is not None:
        condition += f" AND NEW.conversation_id = {conversation_id}"
    _plant(db, name, "events", "BEFORE INSERT", condition)


def fail_on_update(db: Database, convo_id: int, name: str = "fail_update") -> None:
    """Any UPDATE of this conversation row fails."""
    _plant(db, name, "conversations", "BEFORE UPDATE", f"OLD.id = {convo_id}")


def fail_on_delete(db: Database, convo_id: int, name: str = "fail_delete") -> None:
    """Deleting this conversation row fails (after its threads are already gone)."""
    _plant(db, name, "conversations", "BEFORE DELETE", f"OLD.id = {convo_id}")


def fail_on_thread_delete(db: Database, convo_id: int, name: str = "fail_thread_delete") -> None:
    """Deleting a thread of this conversation fails. On SQLite, where the threads go by
    ``ON DELETE CASCADE``, the conversation row is already gone by then."""
    _plant(db, name, "threads", "BEFORE DELETE", f"OLD.conversation_id = {convo_id}")


def fail_at_commit(db: Database, event_type: str, name: str = "fail_commit") -> None:
    """PostgreSQL only: a deferred constraint trigger that fails at COMMIT itself,
    after every statement of the transaction (events included) succeeded."""
    assert db.is_postgresql
    with db.write() as conn:
        conn.exec_driver_sql(
            f"CREATE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.type = '{event_type}' THEN RAISE EXCEPTION 'boom {name}'; END IF;"
            f" RETURN NULL; END $$"
        )
        conn.exec_driver_sql(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON events"
            f" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}_fn()"
        )


def drop_trigger(db: Database, name: str, table: str) -> None:
    with db.write() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}")
            conn.exec_driver_sql(f"DROP FUNCTION {name}_fn()")
