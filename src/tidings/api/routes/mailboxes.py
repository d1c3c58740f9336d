"""/api/mailboxes, their folders, and (extensions) create and delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import created, page_of
from tidings.api.routes.operations import submit
from tidings.desk import mailboxes, queries
from tidings.desk.folders import folders_json
from tidings.desk.views import load_mailbox, mailbox_json
from tidings.errors import InvalidInput, NotFound
from tidings.operations import planning

router = APIRouter(tags=["mailboxes"])


@router.get("/mailboxes", responses=c.page("mailboxes"))
@read_route
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


@router.get("/mailboxes/{mailbox_id}/folders", responses=c.page("folders"))
@read_route
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


@router.get("/mailboxes/{mailbox_id}/custom_fields", status_code=400, responses=c.errors(400))
def list_custom_fields(mailbox_id: int) -> Response:
    raise InvalidInput("Custom Fields module is not installed or not activated")


@router.post(
    "/mailboxes",
    status_code=201,
    openapi_extra=bodies.CREATE_MAILBOX,
    responses=c.created("Mailbox"),
)
def create_mailbox(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    """Tidings extension: create a mailbox with its folders."""
    with ctx.change() as tx:
        mailbox_id = mailboxes.create_mailbox(tx, body)
        row = load_mailbox(tx.conn, mailbox_id)
    assert row is not None
    return created(mailbox_id, mailbox_json(row))


@router.delete("/mailboxes/{mailbox_id}", status_code=202, responses=c.BULK)
def delete_mailbox(
    mailbox_id: int,
    ctx: Context = Depends(context),
    dryRun: bool = False,
    confirmToken: str | None = None,
) -> Response:
    """Tidings extension: delete a mailbox and every conversation in it, each announced as
    ``convo.deleted_forever``, as a tracked ``delete_mailbox`` operation. Destructive, so
    confirmed like bulk operations: ``dryRun=true`` answers ``{action, total, confirmToken,
    expiresAt}``; the delete needs that ``confirmToken`` and answers 202 with the operation."""
    with ctx.read() as conn:
        if load_mailbox(conn, mailbox_id) is None:
            raise NotFound()
    return submit(ctx, planning.delete_mailbox_request(mailbox_id, dryRun, confirmToken))
