"""FreeScout's CORS: with allowed hosts set, preflights are answered before authentication."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from starlette.responses import Response

_HEADERS = {
    "Access-Control-Allow-Headers": "Content-Type,Authorization,X-FreeScout-API-Key",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
}


def install_cors(app: FastAPI, hosts: str | None) -> None:
    if not hosts:
        return
    headers = {"Access-Control-Allow-Origin": hosts, **_HEADERS}

    @app.middleware("http")
    async def _cors(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=200, headers=headers)
        response = await call_next(request)
        response.headers.update(headers)
        return response
