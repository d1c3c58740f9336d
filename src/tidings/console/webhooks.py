"""``/console/webhooks``: is every integration getting its events, and what to do if not.

The list shows each webhook's health at a glance (last success, failure streak, oldest
undelivered); a webhook's page edits it, enables or disables it, rotates its secret and
sends a test event; its deliveries page lists every attempt and redelivers one, or
replays everything failed or missed since a time as a ``redeliver`` operation whose
progress bar moves live.

Everything goes through the services the API's routes use (``subscriptions``,
``history``, ``planning``), so the console cannot do what the API would refuse. A secret
is shown once, in the answer to the POST that made it (never on a page a GET can reach
again), as the API shows it once in the answer to ``POST /api/webhooks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.console.web import (
    PREFIX,
    Form,
    Posted,
    Viewer,
    console_of,
    posted,
    redirect,
    render,
    signed_in,
)
from tidings.desk import queries
from tidings.desk import validate as v
from tidings.errors import Conflict, InvalidInput, NotFound, TidingsError
from tidings.events.catalog import FREESCOUT_EVENTS, TIDINGS_EVENTS
from tidings.events.outbox import Tx
from tidings.operations import planning
from tidings.operations import store as operations
from tidings.operations.model import Operation
from tidings.webhooks import history, metrics, store, subscriptions
from tidings.webhooks.matching import ALL, TEST

T = TypeVar("T")
HOME = f"{PREFIX}/webhooks"
router = APIRouter(prefix=HOME)

PAGE_SIZE = 50
DELIVERIES_PAGE_SIZE = 25
POLL_SECONDS = 1
REPLAY_STATUSES = (store.FAILED, store.SKIPPED, store.DELIVERED)
# What a redirect after a change says; only these keys, so a link cannot put words here.
NOTICES = {
    "saved": "Saved.",
    "enabled": "Enabled: deliveries resume. What it missed while disabled stays skipped:"
    " replay it below.",
    "disabled": "Disabled: events are kept as skipped deliveries, for a replay.",
    "redelivered": "Queued to be sent again now, with the same webhook-id.",
}


# --- what the pages show (pure) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Badge:
    key: str  # the CSS class: healthy, lagging, failing, disabled
    label: str
    why: str


def badge(hook: dict[str, Any]) -> Badge:
    """The one word an operator scans the list for; the worst state wins."""
    health = hook["health"]
    if not hook["enabled"]:
        return Badge("disabled", "disabled", health["disabledReason"] or "disabled")
    if health["status"] == "failing":
        streak = health["consecutiveFailures"]
        return Badge("failing", "failing", f"{streak} failures in a row")
    if health["laggingSince"]:
        return Badge("lagging", "lagging", "its oldest undelivered event is overdue")
    return Badge("healthy", "enabled", "delivering")


@dataclass(frozen=True, slots=True)
class Row:
    hook: dict[str, Any]
    badge: Badge
    backlog: metrics.Backlog


def rows_of(hooks: list[dict[str, Any]], backlogs: dict[int, metrics.Backlog]) -> list[Row]:
    return [Row(h, badge(h), backlogs.get(h["id"], metrics.Backlog())) for h in hooks]


def events_summary(events: list[str]) -> str:
    if ALL in events:
        return "every event"
    shown = ", ".join(events[:3])
    return shown if len(events) <= 3 else f"{shown} and {len(events) - 3} more"


def body_of(form: Form) -> dict[str, Any]:
    """A create or edit form as the API's JSON body: the services validate it."""
    body: dict[str, Any] = {"events": form.all("events")}
    if (url := form.get("url")) is not None:
        body["url"] = url
    try:
        body["mailboxes"] = [int(m) for m in form.all("mailboxes")]
    except ValueError:
        raise v.wrong("mailboxes", "a list of mailbox ids") from None
    return body


def messages(error: TidingsError) -> list[str]:
    """What went wrong, in the words the API uses."""
    return [f"{e.path}: {e.message}" for e in error.errors] or [error.message]


def replay_body(form: Form) -> tuple[datetime, list[str]]:
    """``since`` (a ``datetime-local`` value is UTC, as the page says) and the statuses."""
    since = v.date(v.required_text({"since": form.get("since")}, "since"), "since")
    statuses = [s for s in form.all("status") if s in REPLAY_STATUSES]
    if not statuses:
        raise InvalidInput.field("status", "Pick at least one status to replay")
    return since, list(dict.fromkeys(statuses))


def local_input(moment: datetime) -> str:
    """A UTC time as a ``datetime-local`` input's value."""
    return moment.strftime("%Y-%m-%dT%H:%M")


# --- reads and writes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choices:
    """What the create and edit forms offer."""

    freescout: tuple[str, ...]
    tidings: tuple[str, ...]
    mailboxes: list[tuple[int, str]]


def choices(conn: Connection) -> Choices:
    boxes, _ = queries.list_mailboxes(conn, None, queries.Page(1, 500))
    return Choices(FREESCOUT_EVENTS, TIDINGS_EVENTS, [(b.id, b.name) for b in boxes])


def _hook(conn: Connection, webhook_id: int) -> dict[str, Any] | None:
    try:
        return subscriptions.get_webhook(conn, webhook_id)
    except NotFound:
        return None


def _detail(conn: Connection, webhook_id: int, now: datetime) -> dict[str, Any] | None:
    hook = _hook(conn, webhook_id)
    if hook is None:
        return None
    backlog = metrics.backlogs(conn, now).get(webhook_id, metrics.Backlog())
    return {"hook": hook, "badge": badge(hook), "backlog": backlog, "choices": choices(conn)}


def _redeliver_one(tx: Tx, webhook_id: int, delivery_id: str) -> None:
    """``POST /api/webhooks/{id}/redeliver {"deliveryId"}``: the same checks, the same
    service calls."""
    _enabled(tx.conn, webhook_id)
    found = history.get_delivery(tx.conn, webhook_id, delivery_id)
    if found is None:
        raise NotFound(f"Delivery {delivery_id} not found")
    if not history.requeue(tx.conn, webhook_id, [found["sequence"]], history.REDELIVERABLE, tx.now):
        why = "is pending already" if found["status"] == store.PENDING else "has no event"
        raise Conflict(f"Delivery {delivery_id} {why}: nothing to redeliver")


def _replay(
    tx: Tx, webhook_id: int, since: datetime, statuses: list[str], secret: str
) -> Operation:
    """``POST /api/webhooks/{id}/redeliver {"since", "status"}``: a ``redeliver``
    operation over what matched, described as the API describes it."""
    _enabled(tx.conn, webhook_id)
    described: dict[str, Any] = {"status": statuses, "since": since.isoformat()}
    matching = history.redeliverable(
        webhook_id, statuses, since, None, planning.MAX_SELECTION + 1, tx.conn.dialect.name
    )
    return planning.queue(tx, planning.redelivery(webhook_id, matching, described), secret)


def _enabled(conn: Connection, webhook_id: int) -> None:
    if not subscriptions.get_webhook(conn, webhook_id)["enabled"]:
        raise Conflict(f"Webhook {webhook_id} is disabled: enable it first")


def _test_delivery(conn: Connection, webhook_id: int, event_id: str) -> dict[str, Any] | None:
    """The delivery of test event ``event_id``, once the dispatcher has made it."""
    query = history.DeliveryQuery(webhook_id, event_type=TEST)
    found, _ = history.list_deliveries(conn, query, 50, 0)
    return next((d for d in found if d["event"]["id"] == event_id), None)


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
        messages=messages(error),
        back=back,
    )


# --- the list and creation --------------------------------------------------------------


@router.get("")
async def list_page(
    request: Request, page: int = 1, viewer: Viewer = Depends(signed_in)
) -> Response:
    console = console_of(request)
    now, number = console.ctx.clock(), max(1, page)

    def read(conn: Connection) -> tuple[list[Row], int]:
        offset = queries.Page(number, PAGE_SIZE).offset  # clamped to 64 bits
        hooks, total = subscriptions.list_webhooks(conn, PAGE_SIZE, offset)
        return rows_of(hooks, metrics.backlogs(conn, now)), total

    rows, total = await console.read(read)
    return render(
        request,
        "webhooks/list.html",
        viewer,
        active="webhooks",
        rows=rows,
        total=total,
        page=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        summary=events_summary,
    )


def _form_page(
    request: Request,
    viewer: Viewer,
    offered: Choices,
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
    offered = await console_of(request).read(choices)
    values = {"url": "", "events": [ALL], "mailboxes": []}
    return _form_page(request, viewer, offered, values, [])


@router.post("")
async def create(request: Request, form: Posted = Depends(posted)) -> Response:
    """The secret is in this answer and nowhere else, as in the API's."""
    console = console_of(request)

    def made(tx: Tx) -> tuple[subscriptions.Created, dict[str, Any]]:
        new = subscriptions.create_webhook(tx, body_of(form.form), console.ctx.allowed_networks)
        return new, subscriptions.get_webhook(tx.conn, new.webhook_id)

    result = await _attempt(request, made)
    if isinstance(result, TidingsError):
        offered = await console.read(choices)
        values = {
            "url": form.form.get("url") or "",
            "events": form.form.all("events"),
            "mailboxes": form.form.all("mailboxes"),
        }
        status = 400 if isinstance(result, InvalidInput) else result.status
        return _form_page(request, form.viewer, offered, values, messages(result), status)
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
    found = await console.read(lambda conn: _detail(conn, webhook_id, now))
    if found is None:
        return _missing(request, viewer, request.url.path)
    return _detail_page(request, viewer, found, NOTICES.get(done or ""), [], now)


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
        since_default=local_input(now - timedelta(days=1)),
        **found,
    )


@router.post("/{webhook_id}")
async def edit(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    """URL, events and mailboxes: what the API's ``PUT`` changes, checked the same way."""
    console = console_of(request)
    body = body_of(form.form)
    result = await _attempt(
        request,
        lambda tx: subscriptions.update_webhook(tx, webhook_id, body, console.ctx.allowed_networks),
    )
    if isinstance(result, NotFound):
        return _missing(request, form.viewer, request.url.path)
    if isinstance(result, TidingsError):
        now = console.ctx.clock()
        found = await console.read(lambda conn: _detail(conn, webhook_id, now))
        if found is None:
            return _missing(request, form.viewer, request.url.path)
        return _detail_page(request, form.viewer, found, None, messages(result), now, 400)
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


async def _test_result(request: Request, webhook_id: int, event_id: str) -> dict[str, Any]:
    console = console_of(request)
    delivery = await console.read(lambda conn: _test_delivery(conn, webhook_id, event_id))
    waiting = delivery is None or delivery["status"] == store.PENDING
    return {"webhook_id": webhook_id, "event_id": event_id, "d": delivery, "waiting": waiting}


@router.get("/{webhook_id}/tests/{event_id}")
async def sent_test_page(
    request: Request, webhook_id: int, event_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    hook = await console_of(request).read(lambda conn: _hook(conn, webhook_id))
    if hook is None:
        return _missing(request, viewer, request.url.path)
    result = await _test_result(request, webhook_id, event_id)
    return render(
        request, "webhooks/test.html", viewer, active="webhooks", hook=hook, poll=POLL_SECONDS,
        **result,
    )  # fmt: skip


@router.get("/{webhook_id}/tests/{event_id}/result")
async def sent_test_result(
    request: Request, webhook_id: int, event_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    result = await _test_result(request, webhook_id, event_id)
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

    def read(conn: Connection) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
        hook = _hook(conn, webhook_id)
        if hook is None:
            return None, [], 0
        offset = queries.Page(number, DELIVERIES_PAGE_SIZE).offset
        items, total = history.list_deliveries(conn, query, DELIVERIES_PAGE_SIZE, offset)
        return hook, items, total

    hook, items, total = await console.read(read)
    if hook is None:
        return _missing(request, viewer, request.url.path)
    return render(
        request,
        "webhooks/deliveries.html",
        viewer,
        active="webhooks",
        hook=hook,
        badge=badge(hook),
        deliveries=items,
        total=total,
        status_filter=wanted,
        statuses=store.STATUSES,
        redeliverable=history.REDELIVERABLE,
        page=number,
        pages=max(1, -(-total // DELIVERIES_PAGE_SIZE)),
        notice=NOTICES.get(done or ""),
        since_default=local_input(console.ctx.clock() - timedelta(days=1)),
    )


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, webhook_id: int, delivery_id: str, form: Posted = Depends(posted)
) -> Response:
    result = await _attempt(request, lambda tx: _redeliver_one(tx, webhook_id, delivery_id))
    back = f"{HOME}/{webhook_id}/deliveries"
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, back)
    return redirect(f"{back}?done=redelivered")


@router.post("/{webhook_id}/replay")
async def replay(request: Request, webhook_id: int, form: Posted = Depends(posted)) -> Response:
    """Everything failed or missed since a time, again: a ``redeliver`` operation."""
    secret = console_of(request).ctx.secret

    def queued(tx: Tx) -> Operation:
        since, statuses = replay_body(form.form)
        return _replay(tx, webhook_id, since, statuses, secret)

    result = await _attempt(request, queued)
    if isinstance(result, TidingsError):
        return _refusal(request, form.viewer, result, f"{HOME}/{webhook_id}")
    return redirect(f"{HOME}/{webhook_id}/replays/{result.id}")


async def _operation(request: Request, webhook_id: int, op_id: str) -> Operation | None:
    op = await console_of(request).read(lambda conn: operations.get(conn, op_id))
    mine = op is not None and op.action == "redeliver" and op.params.get("webhookId") == webhook_id
    return op if mine else None


@router.get("/{webhook_id}/replays/{op_id}")
async def replay_page(
    request: Request, webhook_id: int, op_id: str, viewer: Viewer = Depends(signed_in)
) -> Response:
    op = await _operation(request, webhook_id, op_id)
    hook = await console_of(request).read(lambda conn: _hook(conn, webhook_id))
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
    op = await _operation(request, webhook_id, op_id)
    if op is None:
        return _missing(request, viewer, request.url.path)
    return render(
        request, "webhooks/replay_progress.html", viewer, webhook_id=webhook_id, op=op,
        poll=POLL_SECONDS,
    )  # fmt: skip
