"""``GET /`` and ``GET /api``: the front door, what this server is and where to go next.

No API key: the index reveals nothing a client could not read in the README (the name,
the version, the paths of the public documents and of the collections, which answer
401 without the key). Left out of openapi.json: it is not part of FreeScout's API.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import HTMLResponse, Response

from tidings import __version__
from tidings.api.responses import JSON

router = APIRouter(include_in_schema=False)

COLLECTIONS = (
    "conversations",
    "customers",
    "users",
    "mailboxes",
    "tags",
    "webhooks",
    "events",
    "operations",
)
CONSOLE = "/console"


def install(app: FastAPI) -> None:
    app.include_router(router)


def index(request: Request) -> dict[str, Any]:
    """The index as JSON: links are absolute paths under the app's root path."""
    app: FastAPI = request.app
    root = request.scope.get("root_path", "")
    links: dict[str, str] = {}
    if app.docs_url:
        links["docs"] = root + app.docs_url
    if app.openapi_url:
        links["openapi"] = root + app.openapi_url
    if any(getattr(route, "path", None) == CONSOLE for route in app.routes):
        links["console"] = root + CONSOLE
    links.update({name: f"{root}/api/{name}" for name in COLLECTIONS})
    return {
        "name": "Tidings",
        "version": __version__,
        "description": "A help desk whose REST API is compatible with FreeScout's"
        " API & Webhooks module.",
        "authentication": "Send the API key as the X-FreeScout-API-Key header"
        " (or ?api_key=); `tidings api-key` prints it.",
        "links": links,
    }


def _wants_html(request: Request) -> bool:
    # Browsers list text/html; curl sends */*, API clients application/json: JSON.
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


@router.get("/")
async def root(request: Request) -> Response:
    body = index(request)
    if _wants_html(request):
        return HTMLResponse(render(body))
    return JSON(body)


@router.get("/api")
async def api_root(request: Request) -> Response:
    return JSON(index(request))


def render(body: dict[str, Any]) -> str:
    """The index as a small HTML page (pure)."""
    items = "".join(
        f'<li><a href="{html.escape(href)}">{html.escape(name)}</a>'
        f" <code>{html.escape(href)}</code></li>"
        for name, href in body["links"].items()
    )
    title = f"{body['name']} {body['version']}"
    return (
        "<!doctype html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(body['description'])}</p>"
        f"<p>{html.escape(body['authentication'])}</p><ul>{items}</ul></body></html>\n"
    )
