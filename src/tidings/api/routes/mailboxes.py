"""/api/mailboxes, their folders, and (extensions) create and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from tidings.api import params
from tidings.api.context import Context, context, json_body
from tidings.api.responses import created, no_content, page_of
from tidings.desk import lifecycle, mailboxes, queries
from tidings.desk.folders import folders_json
from tidings.desk.views import load_mailbox, mailbox_json
from tidings.errors import InvalidInput, NotFound

router = APIRouter(tags=["mailboxes"])


@router.get("/mailboxes")
def list_mailboxes(
    ctx: Context = Depends(context),
    userId: int | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        rows, total = queries.list_mailboxes(conn, userId, pg)
    return page_of("mailboxes", [mailbox_json(r) for r in rows], pg, total)


@router.get("/mailboxes/{mailbox_id}/folders")
def list_folders(
    mailbox_id: int,
    ctx: Context = Depends(context),
    userId: int | None = None,
    folderId: int | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        if load_mailbox(conn, mailbox_id) is None:
            raise NotFound()
        items = folders_json(conn, mailbox_id, userId, folderId)
    return page_of("folders", items[pg.offset : pg.offset + pg.size], pg, len(items))


@router.get("/mailboxes/{mailbox_id}/custom_fields", status_code=400)
def list_custom_fields(mailbox_id: int) -> Response:
    raise InvalidInput("Custom Fields module is not installed or not activated")


def _create(ctx: Context, body: dict[str, Any]) -> Response:
    with ctx.change() as tx:
        mailbox_id = mailboxes.create_mailbox(tx, body)
        row = load_mailbox(tx.conn, mailbox_id)
    assert row is not None
    return created(mailbox_id, mailbox_json(row))


@router.post("/mailboxes", status_code=201)
async def create_mailbox(request: Request, ctx: Context = Depends(context)) -> Response:
    """Tidings extension: create a mailbox with its folders."""
    body = await json_body(request)
    return await run_in_threadpool(_create, ctx, body)


@router.delete("/mailboxes/{mailbox_id}", status_code=204)
def delete_mailbox(mailbox_id: int, ctx: Context = Depends(context)) -> Response:
    """Tidings extension: delete a mailbox; each conversation is announced as deleted forever."""
    with ctx.change() as tx:
        lifecycle.delete_mailbox(tx, mailbox_id)
    return no_content()
