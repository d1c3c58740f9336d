"""Signing in with the API key, and out.

The key is typed into a form, compared in constant time, and never stored in the browser
nor shown: what the browser keeps is a signed, expiring session cookie (``session.py``),
HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends it).
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tidings.console.session import COOKIE, PRE_COOKIE, same_key
from tidings.console.web import (
    PREFIX,
    Posted,
    Refused,
    console_of,
    cross_site,
    posted,
    read_form,
    redirect,
    render,
    safe_next,
    session_of,
)

router = APIRouter(prefix=PREFIX)
PRE_SESSION_SECONDS = 3600


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def sign_in_page(
    request: Request, next_url: str, *, message: str = "", status: int = 200
) -> Response:
    """The form, with a fresh pre-session cookie and the token bound to it."""
    console = console_of(request)
    pre = console.sessions.new_pre_session()
    response = render(
        request,
        "sign_in.html",
        None,
        status=status,
        token=console.sessions.sign_in_token(pre),
        next_url=next_url,
        message=message,
    )
    _set_cookie(request, response, PRE_COOKIE, pre, PRE_SESSION_SECONDS)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None) -> Response:
    target = safe_next(next)
    if session_of(request, console_of(request).ctx.clock()) is not None:
        return redirect(target)
    return sign_in_page(request, target)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    if cross_site(request):
        raise Refused(403, "Refused: this form was sent from another site.")
    form = await read_form(request, console.ctx.settings.max_body_bytes)
    target = safe_next(form.get("next"))
    if not console.sessions.sign_in_token_ok(request.cookies.get(PRE_COOKIE), form.get("token")):
        raise Refused(403, "Refused: the sign-in form expired or came from elsewhere. Reload it.")
    client, now = client_address(request), console.monotonic()
    wait = console.throttle.wait(client, now)
    if wait > 0:
        return sign_in_page(request, target, status=429, message=too_many(wait))
    if not same_key(form.get("key") or "", console.ctx.api_key):
        wait = console.throttle.failed(client, now)
        message = "That is not this server's API key (`tidings api-key` prints it)."
        if wait > 0:
            message += " " + too_many(wait)
        return sign_in_page(request, target, status=401, message=message)
    console.throttle.succeeded(client)
    _, cookie = console.sessions.issue(console.ctx.clock())
    response = redirect(target)
    _set_cookie(request, response, COOKIE, cookie, int(console.sessions.lifetime_seconds))
    response.delete_cookie(PRE_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def too_many(wait: float) -> str:
    seconds = math.ceil(wait)
    return (
        f"Too many failed sign-ins from your address: try again in {seconds}"
        f" second{'s' if seconds != 1 else ''}."
    )


@router.post("/sign-out")
async def sign_out(request: Request, _: Posted = Depends(posted)) -> Response:
    response = redirect(f"{PREFIX}/sign-in")
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response
