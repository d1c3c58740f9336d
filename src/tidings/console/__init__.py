"""The operator console: ``/console``, server-rendered HTML with htmx, served by the API's
own process (docs/console.md).

Each page is a module with a ``router``; ``PAGES`` is the one place they are registered.
To add a page, write its module (see ``web.py`` for the pattern), add it to ``PAGES``, and
its templates under ``templates/<page>/``. The nav lists ``web.NAV``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from tidings.api.context import Context
from tidings.console import auth, events, operations, overview, trash, webhooks
from tidings.console.web import (
    PREFIX,
    Console,
    Refused,
    SignInRequired,
    Viewer,
    refused,
    render,
    sign_in_required,
    signed_in,
)

PAGES = (auth, overview, events, operations, trash, webhooks)

_fallback = APIRouter(prefix=PREFIX)


@_fallback.get("/{rest:path}")
async def not_found(request: Request, rest: str, viewer: Viewer = Depends(signed_in)) -> Response:
    return render(request, "not_found.html", viewer, status=404, path=request.url.path)


def install(app: FastAPI, ctx: Context) -> None:
    """Serve the console at ``/console``. Called after the API's routes are included, so an
    API request is matched before any console route is looked at."""
    app.state.console = Console(ctx)
    # The front page straight onto the app, where the API's index (``GET /api``) looks for
    # it to link it (FastAPI keeps an included router's routes inside the router).
    app.add_api_route(PREFIX, overview.overview, methods=["GET"], include_in_schema=False)
    for page in PAGES:
        app.include_router(page.router, include_in_schema=False)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(packages=[("tidings.console", "static")]),
        name="console-static",
    )
    app.include_router(_fallback, include_in_schema=False)  # last: after every page
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Refused, refused)
