"""/api/webhooks: FreeScout's create and delete; Tidings' list, get, update, rotation,
deliveries, redelivery and test."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, created, no_content, page_of
from tidings.events import log as event_log
from tidings.operations import redelivery
from tidings.operations.model import Operation
from tidings.webhooks import history, store, subscriptions

router = APIRouter(tags=["webhooks"])


@router.get("/webhooks", responses=c.page("webhooks"))
@read_route
def list_webhooks(
    ctx: Context = Depends(context),
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        items, total = subscriptions.list_webhooks(conn, pg.size, pg.offset)
    return page_of("webhooks", items, pg, total)


@router.get("/webhooks/{webhook_id}", responses=c.ok("Webhook"))
@read_route
def get_webhook(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        return JSON(subscriptions.get_webhook(conn, webhook_id))


@router.get("/webhooks/{webhook_id}/deliveries", responses=c.page("deliveries"))
@read_route
def list_deliveries(
    webhook_id: int,
    ctx: Context = Depends(context),
    status: str | None = None,
    type: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    """The webhook's deliveries, newest first, each with every attempt (status, latency,
    the first bytes of the answer, the error)."""
    if status is not None and status not in store.STATUSES:
        raise params.invalid("status", f"`status` must be one of: {', '.join(store.STATUSES)}")
    query = history.DeliveryQuery(
        webhook_id,
        status=status,
        event_type=type,
        since=params.date(since or None, "since"),
        until=params.date(until or None, "until"),
    )
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        subscriptions.get_webhook(conn, webhook_id)  # 404 for an unknown webhook
        items, total = history.list_deliveries(conn, query, pg.size, pg.offset)
    return page_of("deliveries", items, pg, total)


@router.post(
    "/webhooks",
    status_code=201,
    openapi_extra=bodies.CREATE_WEBHOOK,
    responses=c.created("NewWebhook"),
)
def create_webhook(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    """FreeScout's fields, plus the signing secret (shown only here) and the event names
    that were dropped as unknown."""
    with ctx.change() as tx:
        made = subscriptions.create_webhook(tx, body, ctx.allowed_networks)
        payload = subscriptions.get_webhook(tx.conn, made.webhook_id)
    return created(
        made.webhook_id, {**payload, "secret": made.secret, "ignoredEvents": made.ignored_events}
    )


@router.put("/webhooks/{webhook_id}", status_code=204, openapi_extra=bodies.UPDATE_WEBHOOK)
def update_webhook(
    webhook_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        subscriptions.update_webhook(tx, webhook_id, body, ctx.allowed_networks)
    return no_content()


@router.post("/webhooks/{webhook_id}/rotate-secret", responses=c.ok("RotatedWebhook"))
def rotate_secret(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    """A new signing secret; the old one keeps signing beside it for the grace period
    (``TIDINGS_SECRET_ROTATION_GRACE_HOURS``)."""
    grace = timedelta(hours=ctx.settings.secret_rotation_grace_hours)
    with ctx.change() as tx:
        secret = subscriptions.rotate_secret(tx, webhook_id, grace)
        payload = subscriptions.get_webhook(tx.conn, webhook_id)
    return JSON({**payload, "secret": secret})


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.change() as tx:
        subscriptions.delete_webhook(tx, webhook_id)
    return no_content()


@router.post("/webhooks/{webhook_id}/test", status_code=202, responses=c.TEST_EVENT)
def send_test(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    """Announce a ``webhook.test`` event that only this webhook receives, delivered like
    any other; answers the event as ``/api/events`` shows it."""
    with ctx.change() as tx:
        event = subscriptions.send_test(tx, webhook_id)
    with ctx.read() as conn:
        return JSON(event_log.get(conn, event.id), status_code=202)


@router.post(
    "/webhooks/{webhook_id}/redeliver",
    status_code=202,
    openapi_extra=bodies.REDELIVER,
    responses=c.REDELIVERY,
)
def redeliver(
    webhook_id: int,
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    """One delivery (``deliveryId``) again now, answered with the delivery; or every one in
    ``status`` (default failed and skipped: what failed, and what was missed while the
    webhook was disabled) made since ``since``, as a ``redeliver`` operation."""
    asked = redelivery.parse(body)
    with ctx.change() as tx:
        done = redelivery.redeliver(tx, webhook_id, asked, ctx.secret)
    if not isinstance(done, Operation):
        return JSON(done, status_code=202)
    ctx.wake_workers()
    return JSON(done.to_json(), status_code=202, headers={"Resource-ID": done.id})
