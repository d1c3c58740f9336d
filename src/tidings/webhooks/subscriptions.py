"""Webhook subscriptions, as FreeScout's API creates and deletes them."""

from __future__ import annotations

import base64
import os
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tidings.clock import isoformat
from tidings.db.rows import insert_returning_id
from tidings.db.schema import webhooks
from tidings.desk import validate as v
from tidings.errors import InvalidInput, NotFound
from tidings.events.catalog import ALL_EVENTS
from tidings.events.outbox import Tx
from tidings.webhooks.targets import Network, refusal


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def create_webhook(tx: Tx, body: dict[str, Any], allowed: list[Network]) -> int:
    url = v.required_text(body, "url", max_len=2048)
    if why := refusal(url, allowed):
        raise InvalidInput.field("url", why)
    names = v.string_list(body, "events")
    # FreeScout drops unknown event names silently and fails only when none remain.
    events = [n for n in dict.fromkeys(names) if n in ALL_EVENTS]
    if not events:
        raise InvalidInput.field("events", "`events` must name at least one known event")
    return insert_returning_id(
        tx.conn,
        insert(webhooks).values(
            url=url,
            events=events,
            mailboxes=[],
            secret=new_secret(),
            created_at=tx.now,
            updated_at=tx.now,
        ),
    )


def delete_webhook(tx: Tx, webhook_id: int) -> None:
    if tx.conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount == 0:
        raise NotFound()


def webhook_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "lastRunTime": isoformat(row.last_run_time),
        "lastRunError": row.last_run_error,
    }


def list_webhooks(conn: Connection) -> list[dict[str, Any]]:
    return [webhook_json(r) for r in conn.execute(select(webhooks).order_by(webhooks.c.id))]


def get_webhook(conn: Connection, webhook_id: int) -> dict[str, Any]:
    row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
    if row is None:
        raise NotFound()
    return webhook_json(row)
