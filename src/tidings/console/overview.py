"""``/console``: the overview (registered by ``install`` itself, where the API's index
looks for it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tidings.console.web import PREFIX, Viewer, render, signed_in

router = APIRouter(prefix=PREFIX)


async def overview(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    return render(request, "overview.html", viewer, active="overview")
