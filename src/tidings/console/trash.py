"""``/console/trash``: a mailbox's deleted conversations; restore some or all, or empty it.

Every action is a bulk operation through ``operations.planning`` (restoring the chosen
ones is a ``restore`` over their ids, restoring all a ``restore`` over the mailbox's
trash, emptying an ``empty_trash`` confirmed like any destructive action), and each
lands on the operation's page, which shows the events it caused as they commit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tidings.console import operations, queries
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
from tidings.errors import TidingsError

router = APIRouter(prefix=f"{PREFIX}/trash")
PAGE = 50


def _int(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


@router.get("")
async def trash_page(
    request: Request,
    mailbox: str | None = None,
    page: str | None = None,
    viewer: Viewer = Depends(signed_in),
) -> Response:
    number = max(1, _int(page) or 1)

    def read(conn: Any) -> tuple[list[tuple[int, str]], int | None, list[Any], int]:
        boxes = queries.mailbox_choices(conn)
        chosen = _int(mailbox) or (boxes[0][0] if boxes else None)
        if chosen is None:
            return boxes, None, [], 0
        rows, total = queries.trashed(conn, chosen, PAGE, (number - 1) * PAGE)
        return boxes, chosen, rows, total

    boxes, chosen, rows, total = await console_of(request).read(read)
    return render(
        request,
        "trash.html",
        viewer,
        active="trash",
        mailboxes=boxes,
        mailbox=chosen,
        rows=rows,
        total=total,
        page=number,
        pages=max(1, -(-total // PAGE)),
        errors=[],
    )


async def _start(request: Request, post: Posted, body: dict[str, Any]) -> Response:
    try:
        op = await operations.queue(request, body)
    except TidingsError as exc:
        return render(
            request,
            "refused.html",
            post.viewer,
            status=exc.status,
            message="; ".join(operations.messages(exc)),
        )
    return redirect(f"{PREFIX}/operations/{op.id}")


@router.post("/restore")
async def restore_chosen(request: Request, post: Posted = Depends(posted)) -> Response:
    ids = [i for i in (_int(v) for v in post.form.all("ids")) if i is not None]
    mailbox = post.form.get("mailbox") or ""
    if not ids:
        return redirect(f"{PREFIX}/trash?mailbox={mailbox}")
    return await _start(request, post, {"action": "restore", "conversationIds": ids})


@router.post("/restore-all")
async def restore_all(request: Request, post: Posted = Depends(posted)) -> Response:
    body = {
        "action": "restore",
        "filter": {"mailboxId": _int(post.form.get("mailbox")), "state": "deleted"},
    }
    return await _start(request, post, body)


@router.post("/empty")
async def empty(request: Request, post: Posted = Depends(posted)) -> Response:
    """The dry run of ``empty_trash``: the confirmation page, with its token and count."""
    mailbox = post.form.get("mailbox") or ""
    body = {
        "action": "empty_trash",
        "filter": {"mailboxId": _int(mailbox)},
        "params": {"folder": "deleted"},
    }
    values = {"action": "empty_trash", "mailboxId": mailbox}
    return await operations.confirm(request, post.viewer, body, values)
