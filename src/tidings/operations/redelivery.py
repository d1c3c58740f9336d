"""Redelivery: a webhook's deliveries sent again with the same ``webhook-id``, one of them
now, or every one in some statuses made in a time window as a ``redeliver`` operation.

``POST /api/webhooks/{id}/redeliver`` and the console's deliveries page both call these
functions, so they refuse the same things in the same words. It lives in ``operations``,
not ``webhooks``, because a replay is queued through ``planning`` and ``operations``
already imports ``webhooks`` (a redelivery's chunk requeues through ``history``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.desk import validate as v
from tidings.errors import Conflict, InvalidInput, NotFound
from tidings.events.outbox import Tx
from tidings.operations import planning
from tidings.operations.model import Operation
from tidings.webhooks import history, store, subscriptions

# What a replay takes when it names no status: what failed, and what was missed while the
# webhook was disabled.
DEFAULT_STATUSES = (store.FAILED, store.SKIPPED)


@dataclass(frozen=True, slots=True)
class Asked:
    """The API's body with its shape checked. Its values are read only once the webhook is
    known to be enabled, so a disabled webhook is refused whatever they are."""

    body: dict[str, Any]
    statuses: list[str]


def parse(body: dict[str, Any]) -> Asked:
    """``POST /api/webhooks/{id}/redeliver``'s body, before any transaction: ``deliveryId``
    or ``since``, and the statuses a replay takes."""
    if "deliveryId" in body and "since" in body:
        raise InvalidInput.field("since", "Give either `deliveryId` or `since`, not both")
    return Asked(body, _statuses(body))


def redeliver(tx: Tx, webhook_id: int, asked: Asked, secret: str) -> dict[str, Any] | Operation:
    """``deliveryId`` redelivers one delivery (answered with it); ``since`` (with ``until``
    and ``status``) queues a replay."""
    body = asked.body
    require_enabled(tx.conn, webhook_id)
    if "deliveryId" in body:
        return _requeue(tx, webhook_id, v.required_text(body, "deliveryId"))
    since = v.date(v.required_text(body, "since"), "since")
    until_text = body["until"] if body.get("until") else None
    until = None if until_text is None else v.date(until_text, "until")
    # The operation keeps the times as the client wrote them.
    described = _described(asked.statuses, body["since"], until_text)
    return _queue(tx, webhook_id, asked.statuses, since, until, described, secret)


def redeliver_one(tx: Tx, webhook_id: int, delivery_id: str) -> dict[str, Any]:
    """One delivery due again now, with the whole retry schedule ahead of it; the delivery
    as listed. 404 for an unknown delivery, 409 for one pending already or whose event
    was pruned."""
    require_enabled(tx.conn, webhook_id)
    return _requeue(tx, webhook_id, delivery_id)


def replay(
    tx: Tx,
    webhook_id: int,
    statuses: list[str],
    since: datetime,
    until: datetime | None,
    secret: str,
) -> Operation:
    """A ``redeliver`` operation over the webhook's deliveries in ``statuses`` made in
    [since, until); the operation keeps the times in ISO 8601."""
    require_enabled(tx.conn, webhook_id)
    ended = None if until is None else until.isoformat()
    described = _described(statuses, since.isoformat(), ended)
    return _queue(tx, webhook_id, statuses, since, until, described, secret)


def require_enabled(conn: Connection, webhook_id: int) -> None:
    """404 for an unknown webhook; 409 for a disabled one, which sends nothing."""
    if not subscriptions.get_webhook(conn, webhook_id)["enabled"]:
        raise Conflict(f"Webhook {webhook_id} is disabled: enable it first")


def _requeue(tx: Tx, webhook_id: int, delivery_id: str) -> dict[str, Any]:
    found = history.get_delivery(tx.conn, webhook_id, delivery_id)
    if found is None:
        raise NotFound(f"Delivery {delivery_id} not found")
    if not history.requeue(tx.conn, webhook_id, [found["sequence"]], history.REDELIVERABLE, tx.now):
        why = "is pending already" if found["status"] == store.PENDING else "has no event"
        raise Conflict(f"Delivery {delivery_id} {why}: nothing to redeliver")
    again = history.get_delivery(tx.conn, webhook_id, delivery_id)
    assert again is not None  # requeued in this transaction
    return again


def _queue(
    tx: Tx,
    webhook_id: int,
    statuses: list[str],
    since: datetime,
    until: datetime | None,
    described: dict[str, Any],
    secret: str,
) -> Operation:
    matching = history.redeliverable(
        webhook_id, statuses, since, until, planning.MAX_SELECTION + 1, tx.conn.dialect.name
    )
    return planning.queue(tx, planning.redelivery(webhook_id, matching, described), secret)


def _described(statuses: list[str], since: str, until: str | None) -> dict[str, Any]:
    described: dict[str, Any] = {"status": statuses, "since": since}
    if until is not None:
        described["until"] = until
    return described


def _statuses(body: dict[str, Any]) -> list[str]:
    if "status" not in body:
        return list(DEFAULT_STATUSES)
    statuses = v.string_list(body, "status")
    if not statuses or any(s not in history.REDELIVERABLE for s in statuses):
        raise InvalidInput.field(
            "status", f"`status` must list some of: {', '.join(history.REDELIVERABLE)}"
        )
    return list(dict.fromkeys(statuses))
