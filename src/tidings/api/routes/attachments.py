"""/api/attachments/{id}/data: download a stored attachment (Tidings extension)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import Response

from tidings.api import contract as c
from tidings.api.context import Context, context, read_route
from tidings.api.disposition import content_disposition
from tidings.db.schema import attachments
from tidings.errors import NotFound

router = APIRouter(tags=["attachments"])


@router.get(
    "/attachments/{attachment_id}/data",
    response_class=Response,
    responses=c.binary("The bytes, as `Content-Type` the `mimeType` given at upload."),
)
@read_route
def download(attachment_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()
    if row is None:
        raise NotFound()
    # Headers are Latin-1: an ASCII fallback name plus the exact UTF-8 name (RFC 6266).
    disposition = content_disposition(row.file_name)
    return Response(
        row.data, media_type=row.mime_type, headers={"Content-Disposition": disposition}
    )
