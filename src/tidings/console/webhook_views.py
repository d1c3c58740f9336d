"""What the console's webhook pages show: the health badge (the worst state wins), the
events summary, the forms read as the API's bodies (all pure, unit-tested on their own),
and the reads each page is built from, through the services the API's routes use.

The routes (``webhooks.py``) take a request, call these or a service in one transaction,
and render or redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tidings.console.web import Form
from tidings.desk import queries
from tidings.desk import validate as v
from tidings.errors import InvalidInput, NotFound, TidingsError
from tidings.events.catalog import FREESCOUT_EVENTS, TIDINGS_EVENTS
from tidings.operations import store as operations
from tidings.operations.model import Operation
from tidings.webhooks import history, metrics, store, subscriptions
from tidings.webhooks.matching import ALL, TEST

PAGE_SIZE = 50
DELIVERIES_PAGE_SIZE = 25
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


def since_default(now: datetime) -> str:
    """What the replay form offers to start from: a day ago."""
    return local_input(now - timedelta(days=1))


def form_values(form: Form | None) -> dict[str, Any]:
    """What the create form shows: blank (every event), or what was posted, to correct."""
    if form is None:
        return {"url": "", "events": [ALL], "mailboxes": []}
    return {
        "url": form.get("url") or "",
        "events": form.all("events"),
        "mailboxes": form.all("mailboxes"),
    }


def pages(total: int, size: int) -> int:
    """How many pages ``total`` items fill; an empty list is one page."""
    return max(1, -(-total // size))


# --- the reads behind the pages ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choices:
    """What the create and edit forms offer."""

    freescout: tuple[str, ...]
    tidings: tuple[str, ...]
    mailboxes: list[tuple[int, str]]


def choices(conn: Connection) -> Choices:
    boxes, _ = queries.list_mailboxes(conn, None, queries.Page(1, 500))
    return Choices(FREESCOUT_EVENTS, TIDINGS_EVENTS, [(b.id, b.name) for b in boxes])


def listing(conn: Connection, number: int, now: datetime) -> tuple[list[Row], int]:
    """Page ``number`` of the list, each webhook with its badge and backlog; how many."""
    offset = queries.Page(number, PAGE_SIZE).offset  # clamped to 64 bits
    hooks, total = subscriptions.list_webhooks(conn, PAGE_SIZE, offset)
    return rows_of(hooks, metrics.backlogs(conn, now)), total


def find_hook(conn: Connection, webhook_id: int) -> dict[str, Any] | None:
    try:
        return subscriptions.get_webhook(conn, webhook_id)
    except NotFound:
        return None


def detail(conn: Connection, webhook_id: int, now: datetime) -> dict[str, Any] | None:
    hook = find_hook(conn, webhook_id)
    if hook is None:
        return None
    backlog = metrics.backlogs(conn, now).get(webhook_id, metrics.Backlog())
    return {"hook": hook, "badge": badge(hook), "backlog": backlog, "choices": choices(conn)}


def deliveries(
    conn: Connection, query: history.DeliveryQuery, number: int
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """The webhook (``None`` if unknown), page ``number`` of its deliveries, how many."""
    hook = find_hook(conn, query.webhook_id)
    if hook is None:
        return None, [], 0
    offset = queries.Page(number, DELIVERIES_PAGE_SIZE).offset
    items, total = history.list_deliveries(conn, query, DELIVERIES_PAGE_SIZE, offset)
    return hook, items, total


def sent_test(conn: Connection, webhook_id: int, event_id: str) -> dict[str, Any]:
    """Test event ``event_id``'s delivery (``d``), once the dispatcher has made it; the
    page waits while there is none or it is pending."""
    query = history.DeliveryQuery(webhook_id, event_type=TEST)
    found, _ = history.list_deliveries(conn, query, 50, 0)
    delivery = next((d for d in found if d["event"]["id"] == event_id), None)
    waiting = delivery is None or delivery["status"] == store.PENDING
    return {"webhook_id": webhook_id, "event_id": event_id, "d": delivery, "waiting": waiting}


def replay_of(conn: Connection, webhook_id: int, op_id: str) -> Operation | None:
    """Operation ``op_id`` if it is a replay of this webhook; a link cannot show another."""
    op = operations.get(conn, op_id)
    mine = op is not None and op.action == "redeliver" and op.params.get("webhookId") == webhook_id
    return op if mine else None
