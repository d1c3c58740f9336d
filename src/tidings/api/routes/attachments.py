"""/api/attachments/{id}/data: download a stored attachment (Tidings extension)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import Response

from tidings.api.context import Context, context, read_route
from tidings.db.schema import attachments
from tidings.errors import NotFound

router = APIRouter(tags=["attachments"])


@router.get("/attachments/{attachment_id}/data")
@read_route
def download(attachment_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()
    if row is None:
        raise NotFound()
    # Headers are Latin-1: an ASCII fallback name plus the exact UTF-8 name (RFC 6266).
    ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in row.file_name)
    disposition = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.file_name, safe='')}"
    )
    return Response(
        row.data, media_type=row.mime_type, headers={"Content-Disposition": disposition}
    )
