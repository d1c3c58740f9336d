"""``/console/webhooks``: is every integration getting its events, and what to do if not.

The list shows each webhook's health at a glance (last success, failure streak, oldest
undelivered); a webhook's page edits it, enables or disables it, rotates its secret and
sends a test event; its deliveries page lists every attempt and redelivers one, or
replays everything failed or missed since a time as a ``redeliver`` operation whose
progress bar moves live.

Everything goes through the services the API's routes use (``subscriptions``,
``history``, ``redelivery``), so the console cannot do what the API would refuse. What
the pages show, and how a form reads as the API's body, is in ``webhook_views``. A secret
is shown once, in the answer to the POST that made it (never on a page a GET can reach
again), as the API shows it once in the answer to ``POST /api/webhooks``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from tidings.console import webhook_views as views
from tidings.console.web import (
    PREFIX,
    Posted,
    Viewer,
    console_of,
    posted,
    redirect,
    render,
    signed_in,
)
from tidings.errors import InvalidInput, NotFound, TidingsError
from tidings.events.outbox import Tx
from tidings.operations import redelivery
from tidings.operations.model import Operation
from tidings.webhooks import history, store, subscriptions

T = TypeVar("T")
HOME = f"{PREFIX}/webhooks"
router = APIRouter(prefix=HOME)

POLL_SECONDS = 1

# --- writes and refusals ------------------------------------------------------------------


async def _attempt(request: Request, work: Callable[[Tx], T]) -> T | TidingsError:
    """``work`` in one transaction; a refusal comes back to be shown, not raised."""
    try:
        return await console_of(request).write(work)
    except TidingsError as error:
        return error


def _missing(request: Request, viewer: Viewer, what: str) -> Response:
    return _refusal(request, viewer, NotFound(f"Not found: {what}"), HOME)


def _refusal(request: Request, viewer: Viewer, error: TidingsError, back: str) -> Response:
    """What the service refused (a disabled webhook's test, say), and a way back."""
    return render(
        request,
        "webhooks/refused.html",
        viewer,
        status=error.status,
        active="webhooks",
        code=error.status,
        messages=views.messages(error),
        back=back,
    )


# --- the list and creation --------------------------------------------------------------


@router.get("")
async def list_page(
    request: Request, page: int = 1, viewer: Viewer = Depends(signed_in)
) -> Response:
    console = console_of(request)
    now, number = console.ctx.clock(), max(1, page)
    rows, total = await console.read(lambda conn: views.listing(conn, number, now))
    return render(
        request,
        "webhooks/list.html",
        viewer,
        active="webhooks",
        rows=rows,
        total=total,
        page=number,
        pages=views.pages(total, views.PAGE_SIZE),
        summary=views.events_summary,
    )


def _form_page(
    request: Request,
    viewer: Viewer,
    offered: views.Choices,
    values: dict[str, Any],
    errors: list[str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "webhooks/new.html",
        viewer,
        status=status,
        active="webhooks",
        choices=offered,
        values=values,
        errors=errors,
    )


@router.get("/new")
async def new_page(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    offered = await console_of(request).read(views.choices)
    return _form_page(request, viewer, offered, views.form_values(None), [])


@router.post("")
async def create(request: Request, form: Posted = Depends(posted)) -> Response:
    """The secret is in this answer and nowhere else, as in the API's."""
    console = console_of(request)

    def made(tx: Tx) -> tuple[subscriptions.Created, dict[str, Any]]:
        new = subscriptions.create_webhook(
            tx, views.body_of(form.form), console.ctx.allowed_networks
        )
        return new, subscriptions.get_webhook(tx.conn, new.webhook_id)

    result = await _attempt(request, made)
    if isinstance(result, TidingsError):
        offered = await console.read(views.choices)
        values, errors = views.form_values(form.form), views.messages(result)
        status = 400 if isinstance(result, InvalidInput) else result.status
        return _form_page(request, form.viewer, offered, values, errors, status)
    new, hook = result
    return _secret_page(request, form.viewer, hook, new.secret, new.ignored_events, created=True)


def _secret_page(
    request: Request,
    viewer: Viewer,
    hook: dict[str, Any],
    secret: str,
    ignored: list[str],
    *,
    created: bool,
) -> Response:
    return render(
        request,
        "webhooks/secret.html",
        viewer,
        active="webhooks",
        hook=hook,
        secret=secret,
        ignored=ignored,
        created=created,
        grace_hours=console_of(request).ctx.settings.secret_rotation_grace_hours,
    )


# --- one webhook --------------------------------------------------------------------------


@router.get("/{webhook_id}")
async def detail_page(
    request: Request,
    webhook_id: int,
    done: str | None = None,
    viewer: Viewer = Depends(signed_in),
) -> Response:
    console = console_of(request)
    now = console.ctx.clock()
    found = await console.read(lambda conn: views.detail(conn, webhook_id, now))
    if found is None:
        return _missing(request, viewer, request.url.path)
    return _detail_page(request, viewer, found, views.NOTICES.get(done or ""), [], now)


def _detail_page(
    request: Request,
    viewer: Viewer,
    found: dict[str, Any],
    notice: str | None,
    errors: list[str],
    now: datetime,
    status: int = 200,
) -> Response:
    return render(
        request,
        "webhooks/detail.html",
        viewer,
        status=status,
        active="webhooks",
        notice=notice,
        errors=errors,
        since_default=views.since_default(now),
        **found,
    )


@router.post("/{webhook_id}")
async def edit(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    """URL, events and mailboxes: what the API's ``PUT`` changes, checked the same way."""
    console = console_of(request)
    body = views.body_of(form.form)
    result = await _attempt(
        request,
        lambda tx: subscriptions.update_webhook(tx, webhook_id, body, console.ctx.allowed_networks),
    )
    if isinstance(result, NotFound):
        return _missing(request, form.viewer, request.url.path)
    if isinstance(result, TidingsError):
        now = console.ctx.clock()
        found = await console.read(lambda conn: views.detail(conn, webhook_id, now))
        if found is None:
            return _missing(request, form.viewer, request.url.path)
        return _detail_page(request, form.viewer, found, None, views.messages(result), now, 400)
    return redirect(f"{HOME}/{webhook_id}?done=saved")


@router.post("/{webhook_id}/enable")
async def enable(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    return await _set_enabled(request, webhook_id, form.viewer, enabled=True)


@router.post("/{webhook_id}/disable")
async def disable(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    return await _set_enabled(request, webhook_id, form.viewer, enabled=False)


async def _set_enabled(
    request: Request, webhook_id: int, viewer: Viewer, *, enabled: bool
) -> Response:
    allowed = console_of(request).ctx.allowed_networks
    result = await _attempt(
        request,
        lambda tx: subscriptions.update_webhook(tx, webhook_id, {"enabled": enabled}, allowed),
    )
    if isinstance(result, TidingsError):
        return _refusal(request, viewer, result, f"{HOME}/{webhook_id}")
    return redirect(f"{HOME}/{webhook_id}?done={'enabled' if enabled else 'disabled'}")


@router.post("/{webhook_id}/rotate-secret")
async def rotate_secret(
    request: Request, webhook_id: int, form: Posted = Depends(posted)
) -> Response:
    """A new secret, shown in this answer only; the old one signs beside it for the grace
    period, so receivers can switch without losing a delivery."""
    grace = timedelta(hours=console_of(request).ctx.settings.secret_rotation_grace_hours)

    def rotated(tx: Tx) -> tuple[str, dict[str, Any]]:
        secret = subscriptions.rotate_secret(tx, webhook_id, grace)
        return secret, subscriptions.get_webhook(tx.conn, webhook_id)

    result = await _attempt(request, rotated)
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, f"{HOME}/{webhook_id}")
    secret, hook = result
    return _secret_page(request, form.viewer, hook, secret, [], created=False)


# --- test events --------------------------------------------------------------------------


@router.post("/{webhook_id}/test")
async def send_test(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    result = await _attempt(request, lambda tx: subscriptions.send_test(tx, webhook_id))
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, f"{HOME}/{webhook_id}")
    return redirect(f"{HOME}/{webhook_id}/tests/{result.id}")


@router.get("/{webhook_id}/tests/{event_id}")
async def sent_test_page(
    request: Request, webhook_id: int, event_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    hook = await console_of(request).read(lambda conn: views.find_hook(conn, webhook_id))
    if hook is None:
        return _missing(request, viewer, request.url.path)
    result = await console_of(request).read(lambda c: views.sent_test(c, webhook_id, event_id))
    return render(
        request, "webhooks/test.html", viewer, active="webhooks", hook=hook, poll=POLL_SECONDS,
        **result,
    )  # fmt: skip


@router.get("/{webhook_id}/tests/{event_id}/result")
async def sent_test_result(
    request: Request, webhook_id: int, event_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    result = await console_of(request).read(lambda c: views.sent_test(c, webhook_id, event_id))
    return render(request, "webhooks/test_result.html", viewer, poll=POLL_SECONDS, **result)


# --- deliveries, redelivery and replay ----------------------------------------------------


@router.get("/{webhook_id}/deliveries")
async def deliveries_page(
    request: Request,
    webhook_id: int,
    status: str | None = None,
    page: int = 1,
    done: str | None = None,
    viewer: Viewer = Depends(signed_in),
) -> Response:
    console = console_of(request)
    wanted = status if status in store.STATUSES else None
    number = max(1, page)
    query = history.DeliveryQuery(webhook_id, status=wanted)
    hook, items, total = await console.read(lambda conn: views.deliveries(conn, query, number))
    if hook is None:
        return _missing(request, viewer, request.url.path)
    return render(
        request,
        "webhooks/deliveries.html",
        viewer,
        active="webhooks",
        hook=hook,
        badge=views.badge(hook),
        deliveries=items,
        total=total,
        status_filter=wanted,
        statuses=store.STATUSES,
        redeliverable=history.REDELIVERABLE,
        page=number,
        pages=views.pages(total, views.DELIVERIES_PAGE_SIZE),
        notice=views.NOTICES.get(done or ""),
        since_default=views.since_default(console.ctx.clock()),
    )


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, webhook_id: int, delivery_id: str, form: Posted = Depends(posted)
) -> Response:
    result = await _attempt(
        request, lambda tx: redelivery.redeliver_one(tx, webhook_id, delivery_id)
    )
    back = f"{HOME}/{webhook_id}/deliveries"
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, back)
    return redirect(f"{back}?done=redelivered")


@router.post("/{webhook_id}/replay")
async def replay(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    """Everything failed or missed since a time, again: a ``redeliver`` operation."""
    secret = console_of(request).ctx.secret

    def queued(tx: Tx) -> Operation:
        since, statuses = views.replay_body(form.form)
        return redelivery.replay(tx, webhook_id, statuses, since, None, secret)

    result = await _attempt(request, queued)
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, f"{HOME}/{webhook_id}")
    return redirect(f"{HOME}/{webhook_id}/replays/{result.id}")


@router.get("/{webhook_id}/replays/{op_id}")
async def replay_page(
    request: Request, webhook_id: int, op_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    op = await console_of(request).read(lambda c: views.replay_of(c, webhook_id, op_id))
    hook = await console_of(request).read(lambda conn: views.find_hook(conn, webhook_id))
    if op is None or hook is None:
        return _missing(request, viewer, request.url.path)
    return render(
        request, "webhooks/replay.html", viewer, active="webhooks", hook=hook, op=op,
        poll=POLL_SECONDS,
    )  # fmt: skip


@router.get("/{webhook_id}/replays/{op_id}/progress")
async def replay_progress(
    request: Request, webhook_id: int, op_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    op = await console_of(request).read(lambda c: views.replay_of(c, webhook_id, op_id))
    if op is None:
        return _missing(request, viewer, request.url.path)
    return render(
        request, "webhooks/replay_progress.html", viewer, webhook_id=webhook_id, op=op,
        poll=POLL_SECONDS,
    )  # fmt: skip
