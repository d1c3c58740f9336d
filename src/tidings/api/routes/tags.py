"""/api/tags."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from tidings.api import contract as c
from tidings.api import params
from tidings.api.context import Context, context, read_route
from tidings.api.responses import page_of
from tidings.desk import queries

router = APIRouter(tags=["tags"])


@router.get("/tags", responses=c.page("tags"))
@read_route
def list_tags(
    ctx: Context = Depends(context),
    conversationId: int | None = None,
    page: int | None = None,
    pageSize: int | None = None,
) -> Response:
    pg = params.page(page, pageSize, ctx.settings.max_page_size)
    with ctx.read() as conn:
        items, total = queries.list_tags(conn, conversationId, pg)
    return page_of("tags", items, pg, total)
