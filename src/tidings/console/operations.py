"""``/console/operations``: bulk operations, watched and started.

The list and each operation refresh themselves while something runs (htmx polling a
fragment that stops polling once nothing is active). Starting one is the API's two steps
through the same service (``operations.planning``): a dry run that says how many
conversations the filter selects (and, for destructive actions, issues the confirm token),
then the request itself with the token. Actions that delete also need the count typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.console import bulk, queries
from tidings.console.web import (
    PREFIX,
    Posted,
    Viewer,
    console_of,
    posted,
    redirect,
    render,
    signed_in,
)
from tidings.desk.enums import FolderType
from tidings.errors import TidingsError
from tidings.events import log
from tidings.events.outbox import Tx
from tidings.operations import planning, store
from tidings.operations.model import ACTIVE, Operation, OperationStatus

router = APIRouter(prefix=f"{PREFIX}/operations")
PAGE = 50
EVENTS_SHOWN = 30


class SelectionChanged(Exception):
    """The selection no longer has the count the operator confirmed: nothing was queued."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.total = total


def messages(exc: TidingsError) -> list[str]:
    """What the service said, as lines for the operator."""
    return [f"{e.path}: {e.message}" for e in exc.errors] or [exc.message]


# --- the list ------------------------------------------------------------------------


def _listing(request: Request, status: str | None) -> dict[str, Any]:
    known = {s.value for s in OperationStatus}
    return {"wanted": status if status in known else "", "statuses": list(OperationStatus)}


@router.get("")
async def operations_page(
    request: Request, status: str | None = None, viewer: Viewer = Depends(signed_in)
) -> Response:
    listing = _listing(request, status)
    ops = await _recent(request, listing["wanted"])
    return render(request, "operations.html", viewer, active="operations", ops=ops, **listing)


@router.get("/rows")
async def operations_rows(
    request: Request, status: str | None = None, viewer: Viewer = Depends(signed_in)
) -> Response:
    listing = _listing(request, status)
    ops = await _recent(request, listing["wanted"])
    return render(request, "operations_rows.html", viewer, ops=ops, **listing)


async def _recent(request: Request, status: str) -> list[Operation]:
    wanted = OperationStatus(status) if status else None
    ops, _ = await console_of(request).read(lambda conn: store.list_recent(conn, wanted, PAGE, 0))
    return ops


# --- starting one --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choices:
    mailboxes: list[tuple[int, str]]
    folders: list[tuple[int, str]]
    users: list[tuple[int, str]]


def choices(conn: Connection) -> Choices:
    boxes = queries.mailbox_choices(conn)
    names = dict(boxes)
    folders = [
        (fid, f"{names.get(mid, mid)}: {FolderType(kind).name.title()}")
        for fid, mid, kind in queries.folder_choices(conn)
    ]
    return Choices(boxes, folders, queries.user_choices(conn))


def _form_page(
    request: Request, viewer: Viewer, values: dict[str, str], errors: list[str], status: int = 200
) -> Any:
    async def page() -> Response:
        found = await console_of(request).read(choices)
        return render(
            request,
            "bulk.html",
            viewer,
            status=status,
            active="operations",
            c=found,
            v=values,
            errors=errors,
            actions=bulk.ACTIONS,
            states=bulk.STATES,
            statuses=bulk.STATUSES,
        )

    return page()


@router.get("/new")
async def new_operation(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    values = dict(request.query_params)
    response: Response = await _form_page(request, viewer, values, [])
    return response


@router.post("/dry-run")
async def dry_run(request: Request, post: Posted = Depends(posted)) -> Response:
    values = {k: v[0] for k, v in post.form.fields.items() if k != "csrf" and v}
    return await confirm(request, post.viewer, bulk.request_body(post.form), values)


async def confirm(
    request: Request, viewer: Viewer, body: dict[str, Any], values: dict[str, str]
) -> Response:
    """The dry run of ``body``: its count (and confirm token) on the confirmation page, or
    the form again with what the service refused."""
    console = console_of(request)
    ttl = console.ctx.settings.confirm_token_ttl_seconds

    def run(tx: Tx) -> Any:
        req = planning.parse(tx.conn, {**body, "dryRun": True})
        return planning.dry_run(tx.conn, req, console.ctx.secret, tx.now, ttl)

    try:
        result = await console.write(run)
    except TidingsError as exc:
        response: Response = await _form_page(request, viewer, values, messages(exc), 400)
        return response
    return _confirm_page(request, viewer, body, result, values)


async def queue(request: Request, body: dict[str, Any]) -> Operation:
    """Queue ``body`` as an operation, as ``POST /api/operations`` does."""
    console = console_of(request)
    return await console.write(
        lambda tx: planning.queue(tx, planning.parse(tx.conn, body), console.ctx.secret)
    )


def _confirm_page(
    request: Request,
    viewer: Viewer,
    body: dict[str, Any],
    result: dict[str, Any],
    values: dict[str, str],
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "bulk_confirm.html",
        viewer,
        status=status,
        active="operations",
        body=orjson.dumps(body).decode(),
        action=body["action"],
        described=bulk.describe(body),
        total=result["total"],
        token=result.get("confirmToken", ""),
        expires=result.get("expiresAt"),
        type_count=body["action"] in bulk.TYPE_THE_COUNT,
        back=values,
        errors=errors or [],
    )


@router.post("/start")
async def start(request: Request, post: Posted = Depends(posted)) -> Response:
    console = console_of(request)
    form = post.form
    try:
        body = orjson.loads(form.get("body") or "")
        total = int(form.get("total") or "-1")
    except (orjson.JSONDecodeError, ValueError):
        return redirect(f"{PREFIX}/operations/new")
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        return redirect(f"{PREFIX}/operations/new")
    action = body["action"]
    result = {"total": total, "confirmToken": form.get("confirmToken")}
    if not bulk.typed_count_ok(action, form.get("typed"), total):
        why = [f"Type {total} (the number of conversations) to confirm."]
        return _confirm_page(request, post.viewer, body, result, {}, why, 400)
    if form.get("confirmToken"):
        body["confirmToken"] = form.get("confirmToken")

    def run(tx: Tx) -> Operation:
        op = planning.queue(tx, planning.parse(tx.conn, body), console.ctx.secret)
        if action in bulk.TYPE_THE_COUNT and op.total != total:
            raise SelectionChanged(op.total)  # rolls the queueing back
        return op

    try:
        op = await console.write(run)
    except SelectionChanged as changed:
        why = [
            f"The selection has changed: it now holds {changed.total}, not {total}."
            " Nothing was started; run the dry run again."
        ]
        return _confirm_page(request, post.viewer, body, result, {}, why, 409)
    except TidingsError as exc:
        return _confirm_page(request, post.viewer, body, result, {}, messages(exc), exc.status)
    return redirect(f"{PREFIX}/operations/{op.id}")


# --- one operation -------------------------------------------------------------------


def _detail(conn: Connection, op_id: str) -> tuple[Operation | None, list[dict[str, Any]]]:
    op = store.get(conn, op_id)
    if op is None:
        return None, []
    recent = queries.latest_events(conn, log.EventQuery(operation_id=op_id), None, EVENTS_SHOWN)
    return op, orjson.loads(orjson.dumps(recent))


async def _operation(request: Request, op_id: str, viewer: Viewer, template: str) -> Response:
    op, recent = await console_of(request).read(lambda conn: _detail(conn, op_id))
    if op is None:
        return render(request, "not_found.html", viewer, status=404, path=request.url.path)
    return render(
        request,
        template,
        viewer,
        active="operations",
        op=op,
        recent=recent,
        running=op.status in ACTIVE,
        shown=EVENTS_SHOWN,
    )


@router.get("/{op_id}")
async def operation_page(
    request: Request, op_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    return await _operation(request, op_id, viewer, "operation.html")


@router.get("/{op_id}/panel")
async def operation_panel(
    request: Request, op_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    return await _operation(request, op_id, viewer, "operation_panel.html")


@router.post("/{op_id}/cancel")
async def cancel(request: Request, op_id: str, post: Posted = Depends(posted)) -> Response:
    try:
        await console_of(request).write(lambda tx: planning.cancel(tx, op_id))
    except TidingsError:
        return render(request, "not_found.html", post.viewer, status=404, path=request.url.path)
    return redirect(f"{PREFIX}/operations/{op_id}")
