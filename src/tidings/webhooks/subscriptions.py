"""Webhook subscriptions: FreeScout's create and delete, and Tidings' list, get, update,
enable/disable, secret rotation and test; and the ``webhook.*`` events about them. Every
statement about the ``webhooks`` table is here, but the health the dispatcher keeps
(``store``)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from tidings.clock import isoformat
from tidings.db.rows import insert_row
from tidings.db.schema import mailboxes, webhooks
from tidings.desk import validate as v
from tidings.errors import Conflict, InvalidInput, NotFound
from tidings.events import log as event_log
from tidings.events.outbox import PendingEvent, Tx
from tidings.webhooks.matching import ALL, TEST, known_events
from tidings.webhooks.targets import Network, refusal

FORMATS = ("freescout", "envelope")
MAX_CONCURRENCY = 100
FAILING_AFTER = 4  # consecutive failures that make a webhook failing (``webhook.failing``)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class Created:
    webhook_id: int
    secret: str  # shown once, in the creation's answer
    ignored_events: list[str]  # unknown names, dropped as FreeScout drops them


def create_webhook(tx: Tx, body: dict[str, Any], allowed: list[Network]) -> Created:
    url = _url(body, allowed)
    events, ignored = _events(body)
    secret = new_secret()
    values = {
        "url": url,
        "events": events,
        "mailboxes": _mailboxes(tx.conn, body) or [],
        "secret": secret,
        "enabled": v.boolean(body, "enabled", default=True),
        "format": _format(body) or "freescout",
        "ordered": v.boolean(body, "orderedDelivery"),
        "max_concurrency": _concurrency(body) or 10,
        # Only events that commit after this one are delivered to it.
        "cursor": event_log.newest_position(tx.conn),
        "next_sequence": 1,
        "consecutive_failures": 0,
        "created_at": tx.now,
        "updated_at": tx.now,
    }
    webhook_id = insert_row(tx.conn, webhooks, values)
    return Created(webhook_id, secret, ignored)


def update_webhook(tx: Tx, webhook_id: int, body: dict[str, Any], allowed: list[Network]) -> None:
    """Change what is given; enabling a disabled webhook clears its failures (what it
    missed while disabled stays ``skipped``, for a replay)."""
    row = _row(tx.conn, webhook_id, lock=True)
    values: dict[str, Any] = {}
    if "url" in body:
        values["url"] = _url(body, allowed)
    if "events" in body:
        values["events"], _ = _events(body)
    if "mailboxes" in body:
        values["mailboxes"] = _mailboxes(tx.conn, body) or []
    if "format" in body:
        values["format"] = _format(body) or row.format
    if "orderedDelivery" in body:
        values["ordered"] = v.boolean(body, "orderedDelivery")
    if "maxConcurrency" in body:
        values["max_concurrency"] = _concurrency(body) or row.max_concurrency
    if "enabled" in body:
        enabled = v.boolean(body, "enabled")
        values["enabled"] = enabled
        if enabled and not row.enabled:
            values.update(
                disabled_at=None, disabled_reason=None, failing_since=None, consecutive_failures=0
            )
        if not enabled and row.enabled:
            values.update(disabled_at=tx.now, disabled_reason="disabled through the API")
    if values:
        tx.conn.execute(
            update(webhooks).where(webhooks.c.id == webhook_id).values(**values, updated_at=tx.now)
        )
    if values.get("enabled") is False and row.enabled:
        announce(tx, "webhook.disabled", webhook_id)


def announce(tx: Tx, event_type: str, webhook_id: int) -> PendingEvent:
    """A ``webhook.*`` event in ``tx``: the webhook as the API shows it now, never its
    secret."""
    payload = webhook_json(_row(tx.conn, webhook_id))
    return tx.emit(event_type, payload, entity_type="webhook", entity_id=webhook_id)


def send_test(tx: Tx, webhook_id: int) -> PendingEvent:
    """A ``webhook.test`` event, delivered to this webhook only, like any other event."""
    if not _row(tx.conn, webhook_id, lock=True).enabled:
        raise Conflict(f"Webhook {webhook_id} is disabled: enable it first")
    return announce(tx, TEST, webhook_id)


def rotate_secret(tx: Tx, webhook_id: int, grace: timedelta) -> str:
    """A new secret; the current one keeps signing, beside it, for ``grace``."""
    row = _row(tx.conn, webhook_id, lock=True)
    secret = new_secret()
    tx.conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(
            secret=secret,
            previous_secret=row.secret,
            previous_secret_until=tx.now + grace,
            updated_at=tx.now,
        )
    )
    return secret


def delete_webhook(tx: Tx, webhook_id: int) -> None:
    if tx.conn.execute(delete(webhooks).where(webhooks.c.id == webhook_id)).rowcount == 0:
        raise NotFound()


# --- reading ---------------------------------------------------------------------------


def list_webhooks(conn: Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = conn.execute(select(webhooks).order_by(webhooks.c.id).limit(limit).offset(offset))
    total = conn.execute(select(func.count()).select_from(webhooks)).scalar_one()
    return [webhook_json(r) for r in rows], int(total)


def get_webhook(conn: Connection, webhook_id: int) -> dict[str, Any]:
    return webhook_json(_row(conn, webhook_id))


def webhook_json(row: Any) -> dict[str, Any]:
    """FreeScout's five fields first, then Tidings'."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "lastRunTime": isoformat(row.last_run_time),
        "lastRunError": row.last_run_error,
        "mailboxes": list(row.mailboxes),
        "enabled": row.enabled,
        "format": row.format,
        "orderedDelivery": row.ordered,
        "maxConcurrency": row.max_concurrency,
        "health": {
            "status": health_status(row),
            "consecutiveFailures": row.consecutive_failures,
            "failingSince": isoformat(row.failing_since),
            "lastSuccessAt": isoformat(row.last_success_at),
            "laggingSince": isoformat(row.lagging_since),
            "disabledAt": isoformat(row.disabled_at),
            "disabledReason": row.disabled_reason,
        },
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def health_status(row: Any) -> str:
    if not row.enabled:
        return "disabled"
    return "failing" if row.consecutive_failures >= FAILING_AFTER else "healthy"


def _row(conn: Connection, webhook_id: int, *, lock: bool = False) -> Any:
    query = select(webhooks).where(webhooks.c.id == webhook_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound()
    return row


# --- input -----------------------------------------------------------------------------


def _url(body: dict[str, Any], allowed: list[Network]) -> str:
    url = v.required_text(body, "url", max_len=2048)
    if why := refusal(url, allowed):
        raise InvalidInput.field("url", why)
    return url


def _events(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The known names (or ``["*"]``) and the unknown ones. FreeScout drops unknown names
    silently and fails only when none remain; Tidings also says which it dropped."""
    names = list(dict.fromkeys(v.string_list(body, "events")))
    if not names:
        raise v.required("events")
    if ALL in names:
        return [ALL], [n for n in names if n != ALL and n not in known_events()]
    events = [n for n in names if n in known_events()]
    if not events:
        raise InvalidInput.field("events", "`events` must name at least one known event")
    return events, [n for n in names if n not in known_events()]


def _mailboxes(conn: Connection, body: dict[str, Any]) -> list[int] | None:
    value = body.get("mailboxes")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise v.wrong("mailboxes", "a list of mailbox ids")
    ids = list(dict.fromkeys(value))
    found = set(conn.execute(select(mailboxes.c.id).where(mailboxes.c.id.in_(ids))).scalars())
    if missing := [i for i in ids if i not in found]:
        raise InvalidInput.field("mailboxes", f"Mailbox {missing[0]} not found")
    return ids


def _format(body: dict[str, Any]) -> str | None:
    value = v.text(body, "format")
    if value is not None and value not in FORMATS:
        raise v.wrong("format", "freescout or envelope")
    return value


def _concurrency(body: dict[str, Any]) -> int | None:
    value = v.integer(body, "maxConcurrency")
    if value is not None and not 1 <= value <= MAX_CONCURRENCY:
        raise InvalidInput.field(
            "maxConcurrency", f"`maxConcurrency` must be from 1 to {MAX_CONCURRENCY}"
        )
    return value
