"""The console's web plumbing: templates, who is signed in, CSRF-checked forms, responses.

A console page is a route in a module of its own with a ``router`` (registered once, in
``tidings.console.PAGES``). It reads like this::

    router = APIRouter(prefix="/console/things")

    @router.get("")
    async def things(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
        found = await console_of(request).read(lambda conn: store.list_things(conn))
        return render(request, "things.html", viewer, active="things", things=found)

    @router.post("/{thing_id}/poke")
    async def poke(request: Request, thing_id: int, form: Posted = Depends(posted)) -> Response:
        await console_of(request).write(lambda tx: service.poke(tx, thing_id))
        return redirect(f"/console/things/{thing_id}")

``signed_in`` sends a visitor without a valid session to the sign-in page; ``posted``
refuses (403) a POST without a session, without the CSRF token bound to it, or from
another site, and hands over the parsed form. Every state-changing form includes
``{{ csrf_field() }}``. Reads run where the API's reads run (ADR 0008: on the event loop on
SQLite, in the thread pool on PostgreSQL); writes run in the thread pool, one transaction
each, like the API's.

Nothing here touches the API's routes: no middleware, no per-request work outside
``/console`` (the console's routes are registered after the API's, so the API's requests
never reach them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tidings import __version__
from tidings.api.context import Context, read_body
from tidings.console import formatting
from tidings.console.session import COOKIE, Session, Sessions
from tidings.console.throttle import SignInThrottle
from tidings.events.outbox import Tx

T = TypeVar("T")

PREFIX = "/console"
VENDORED = {"htmx.min.js": "2.0.11", "htmx-ext-sse.min.js": "2.2.4"}


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    name: str
    href: str


NAV = (
    NavItem("overview", "Overview", PREFIX),
    NavItem("events", "Events", f"{PREFIX}/events"),
    NavItem("operations", "Operations", f"{PREFIX}/operations"),
    NavItem("trash", "Trash", f"{PREFIX}/trash"),
    NavItem("webhooks", "Webhooks", f"{PREFIX}/webhooks"),
)

# htmx and its SSE extension need no inline script or style (``htmx-config`` turns off its
# injected indicator style and eval), so the policy allows only this origin's files.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """No valid session: the visitor is sent to the sign-in page."""


class Refused(Exception):
    """A request the console will not serve (403: no session or CSRF token on a POST)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: a valid session, and the CSRF token its forms carry."""

    session: Session
    csrf: str


@dataclass(frozen=True, slots=True)
class Form:
    """An ``application/x-www-form-urlencoded`` body."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        """The first value of ``name``, stripped; None when absent or blank."""
        values = self.fields.get(name)
        value = values[0].strip() if values else ""
        return value or None

    def all(self, name: str) -> list[str]:
        return [v for v in self.fields.get(name, []) if v.strip()]


@dataclass(frozen=True, slots=True)
class Posted:
    viewer: Viewer
    form: Form


class Console:
    """What every console route needs, built once by ``install``."""

    def __init__(
        self,
        ctx: Context,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.ctx = ctx
        lifetime = ctx.settings.console_session_hours * 3600
        self.sessions = Sessions(ctx.secret, ctx.api_key, lifetime)
        self.throttle = throttle or SignInThrottle()
        self.monotonic = monotonic
        self.templates = environment()

    async def read(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in one read snapshot, where the API's reads run (ADR 0008)."""
        return await self.ctx.reading(work)

    async def write(self, work: Callable[[Tx], T]) -> T:
        """``work(tx)`` in one write transaction (its events with it), in the thread pool;
        then wake this process's worker, as the API does after queueing an operation."""

        def run() -> T:
            with self.ctx.change() as tx:
                return work(tx)

        result = await run_in_threadpool(run)
        self.ctx.wake_workers()
        return result


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tidings.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = formatting.count
    env.filters["duration"] = formatting.duration
    env.filters["pretty_json"] = formatting.pretty_json
    env.globals["nav"] = NAV
    env.globals["version"] = __version__
    env.globals["static"] = static_url
    env.globals["percent"] = formatting.percent
    return env


def static_url(name: str) -> str:
    """A static file's URL; the version in the query makes an upgrade bypass caches."""
    return f"{PREFIX}/static/{name}?v={VENDORED.get(name, __version__)}"


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    console = console_of(request)
    now = console.ctx.clock()
    csrf = viewer.csrf if viewer else ""
    html = console.templates.get_template(template).render(
        viewer=viewer,
        now=now,
        when=lambda value: formatting.when(value, now),
        between=lambda start, end: formatting.between(start, end, now),
        csrf_field=lambda: Markup('<input type="hidden" name="csrf" value="{}">').format(csrf),
        active=values.pop("active", ""),
        **values,
    )
    return HTMLResponse(html, status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console path, never another site."""
    if not value or not value.startswith(PREFIX) or value.startswith("//"):
        return PREFIX
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return PREFIX
    return value


def session_of(request: Request, now: datetime) -> Session | None:
    return console_of(request).sessions.read(request.cookies.get(COOKIE), now)


async def signed_in(request: Request) -> Viewer:
    """The dependency of every console page: the viewer, or off to the sign-in page."""
    console = console_of(request)
    session = session_of(request, console.ctx.clock())
    if session is None:
        raise SignInRequired()
    return Viewer(session, console.sessions.csrf(session))


def cross_site(request: Request) -> bool:
    """A browser says so (``Sec-Fetch-Site``), or the ``Origin`` is another one."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc != host


async def read_form(request: Request, limit: int) -> Form:
    """The urlencoded body, read within ``TIDINGS_MAX_BODY_BYTES`` (no multipart parser:
    the console's forms send nothing else)."""
    raw = await read_body(request, limit)
    text = raw.decode("utf-8", errors="replace")
    return Form(parse_qs(text, keep_blank_values=True, max_num_fields=10_000))


async def posted(request: Request) -> Posted:
    """The dependency of every state-changing console route: a signed-in viewer whose form
    carries the CSRF token bound to the session, sent from this site; else 403."""
    console = console_of(request)
    session = session_of(request, console.ctx.clock())
    if session is None:
        raise Refused(403, "Your session has ended: sign in again.")
    if cross_site(request):
        raise Refused(403, "Refused: this form was sent from another site.")
    form = await read_form(request, console.ctx.settings.max_body_bytes)
    if not console.sessions.csrf_ok(session, form.get("csrf")):
        raise Refused(403, "Refused: the form's security token is missing or wrong. Reload the"
                      " page and try again.")  # fmt: skip
    return Posted(Viewer(session, console.sessions.csrf(session)), form)


async def sign_in_required(request: Request, _: Exception) -> Response:
    if "text/event-stream" in request.headers.get("accept", ""):
        return Response("Sign in first.", status_code=401, headers=SECURITY_HEADERS)
    target = f"{PREFIX}/sign-in?next={quote(request.url.path)}"
    if request.headers.get("hx-request"):
        # htmx would follow a redirect and swap the sign-in page into a fragment.
        return Response(status_code=204, headers={**SECURITY_HEADERS, "HX-Redirect": target})
    return redirect(target)


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return render(request, "refused.html", None, status=exc.status, message=exc.message)
