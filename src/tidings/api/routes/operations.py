"""/api/operations: bulk work as tracked operations (Tidings extension)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, page_of
from tidings.errors import NotFound
from tidings.operations import planning, store
from tidings.operations.model import OperationStatus

router = APIRouter(tags=["operations"])


@router.post(
    "/operations", status_code=202, openapi_extra=bodies.CREATE_OPERATION, responses=c.BULK
)
def create_operation(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    return submit(ctx, body)


def submit(ctx: Context, body: dict[str, Any]) -> Response:
    """A bulk request: its dry run (200), or the queued operation (202)."""
    with ctx.change() as tx:
        req = planning.parse(tx.conn, body)
        if req.dry_run:
            ttl = ctx.settings.confirm_token_ttl_seconds
            return JSON(planning.dry_run(tx.conn, req, ctx.secret, tx.now, ttl))
        op = planning.queue(tx, req, ctx.secret)
    ctx.wake_workers()
    return JSON(op.to_json(), status_code=202, headers={"Resource-ID": op.id})


@router.get("/operations", responses=c.page("operations"))
@read_route
def list_operations(
    ctx: Context = Depends(context),
    status: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    if status is not None and status not in OperationStatus.__members__.values():
        names = ", ".join(OperationStatus.__members__.values())
        raise params.invalid("status", f"`status` must be one of: {names}")
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        ops, total = store.list_recent(
            conn, OperationStatus(status) if status else None, pg.size, pg.offset
        )
    return page_of("operations", [op.to_json() for op in ops], pg, total)


@router.get("/operations/{op_id}", responses=c.ok("Operation"))
@read_route
def get_operation(op_id: str, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        op = store.get(conn, op_id)
    if op is None:
        raise NotFound()
    return JSON(op.to_json())


@router.post(
    "/operations/{op_id}/cancel",
    status_code=202,
    responses=c.accepted("The operation as it is now.", c.ref("Operation")),
)
def cancel_operation(op_id: str, ctx: Context = Depends(context)) -> Response:
    """Ask a queued or running operation to stop after its current chunk."""
    with ctx.change() as tx:
        op = planning.cancel(tx, op_id)
    ctx.wake_workers()
    return JSON(op.to_json(), status_code=202)


@router.get("/operations/{op_id}/items", responses=c.page("items"))
@read_route
def list_operation_items(
    op_id: str,
    ctx: Context = Depends(context),
    outcome: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    """The operation's conversations in selection order, each with what became of it:
    `changed`, `missing`, `unchanged` or `pending`; `outcome` keeps one of them."""
    if outcome is not None and outcome not in store.ITEM_OUTCOMES:
        names = ", ".join(store.ITEM_OUTCOMES)
        raise params.invalid("outcome", f"`outcome` must be one of: {names}")
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        op = store.get(conn, op_id)
        if op is None:
            raise NotFound()
        items, total = store.list_items(conn, op, outcome, pg.size, pg.offset)
    found = [
        {"position": i.position, "conversationId": i.conversation_id, "outcome": i.outcome}
        for i in items
    ]
    return page_of("items", found, pg, total)
