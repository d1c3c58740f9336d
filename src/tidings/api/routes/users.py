"""/api/users."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tidings.api import bodies, params
from tidings.api import contract as c
from tidings.api.context import Context, context, json_body, read_route
from tidings.api.responses import JSON, created, no_content, page_of
from tidings.desk import queries, users
from tidings.desk.views import full_user
from tidings.errors import NotFound

router = APIRouter(tags=["users"])


@router.get("/users", responses=c.page("users"))
@read_route
def list_users(
    ctx: Context = Depends(context),
    email: str | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        rows, total = queries.list_users(conn, email, pg)
    return page_of("users", [full_user(r) for r in rows], pg, total)


@router.get("/users/{user_id}", responses=c.ok("User"))
@read_route
def get_user(user_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        row = queries.get_user(conn, user_id)
    if row is None:
        raise NotFound()
    return JSON(full_user(row))


@router.post(
    "/users", status_code=201, openapi_extra=bodies.CREATE_USER, responses=c.created("User")
)
def create_user(
    body: dict[str, Any] = Depends(json_body),
    ctx: Context = Depends(context),
) -> Response:
    with ctx.change() as tx:
        user_id = users.create_user(tx, body)
        row = queries.get_user(tx.conn, user_id)
    return created(user_id, full_user(row))


@router.delete(
    "/users/{user_id}",
    status_code=204,
    openapi_extra=c.required_query("byUserId", "The acting user (FreeScout's)."),
)
def delete_user(user_id: int, request: Request, ctx: Context = Depends(context)) -> Response:
    by_user = params.integer(request.query_params, "byUserId")
    if by_user is None:
        raise params.invalid("byUserId", "`byUserId` parameter is required")
    assign_to: dict[int, int] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("assignTo[") and key.endswith("]"):
            mailbox, target = key[9:-1], value
            if not (mailbox + target).isascii() or not mailbox.isdigit() or not target.isdigit():
                raise params.invalid(key, f"`{key}` must map a mailbox id to a user id")
            assign_to[int(mailbox)] = int(target)
    with ctx.change() as tx:
        users.delete_user(tx, user_id, by_user, assign_to)
    return no_content()
