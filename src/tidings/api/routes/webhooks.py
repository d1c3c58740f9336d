"""/api/webhooks: FreeScout's create and delete, plus list and get."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, created, no_content
from tidings.webhooks import subscriptions

router = APIRouter(tags=["webhooks"])


@router.get("/webhooks")
@read_route
def list_webhooks(ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        items = subscriptions.list_webhooks(conn)
    return JSON({"_embedded": {"webhooks": items}})


@router.get("/webhooks/{webhook_id}")
@read_route
def get_webhook(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        return JSON(subscriptions.get_webhook(conn, webhook_id))


@router.post("/webhooks", status_code=201, openapi_extra=bodies.CREATE_WEBHOOK)
def create_webhook(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        webhook_id = subscriptions.create_webhook(tx, body, ctx.allowed_networks)
        payload = subscriptions.get_webhook(tx.conn, webhook_id)
    return created(webhook_id, payload)


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.change() as tx:
        subscriptions.delete_webhook(tx, webhook_id)
    return no_content()
