"""/api/attachments/{id}/data: download a stored attachment (Tidings extension)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import Response

from tidings.api.context import Context, context
from tidings.db.schema import attachments
from tidings.errors import NotFound

router = APIRouter(tags=["attachments"])


@router.get("/attachments/{attachment_id}/data")
def download(attachment_id: int, ctx: Context = Depends(context)) -> Response:
    with ctx.read() as conn:
        row = conn.execute(select(attachments).where(attachments.c.id == attachment_id)).first()
    if row is None:
        raise NotFound()
    disposition = f'attachment; filename="{row.file_name.replace(chr(34), "")}"'
    return Response(
        row.data, media_type=row.mime_type, headers={"Content-Disposition": disposition}
    )
