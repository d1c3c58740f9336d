"""``/console``: the overview. Is every change reaching every integration, right now?

One read snapshot gathers it all (``gather``); ``Overview`` turns it into what the page
shows (pure). The panel refreshes itself every few seconds (htmx polls
``/console/overview/panel``); without JavaScript the page is the same, once.
(``/console`` itself is registered by ``install``, where the API's index looks for it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from markupsafe import Markup
from sqlalchemy import Connection
from starlette.responses import Response

from tidings.console import charts, queries
from tidings.console.web import PREFIX, Viewer, console_of, render, signed_in
from tidings.events import log
from tidings.operations import store as operations
from tidings.operations.model import Operation, OperationStatus
from tidings.webhooks import metrics, subscriptions

router = APIRouter(prefix=PREFIX)
WINDOW_MINUTES = 60
REFRESH_SECONDS = 5


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the database says, read at once."""

    now: datetime
    per_minute: dict[str, int]
    latencies: list[tuple[datetime, float]]
    active: list[Operation]
    webhooks: list[dict[str, Any]]
    backlogs: dict[int, metrics.Backlog]
    oldest: queries.Undelivered | None
    position: int


def gather(conn: Connection, now: datetime) -> Snapshot:
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=WINDOW_MINUTES - 1)
    running, _ = operations.list_recent(conn, OperationStatus.RUNNING, 20, 0)
    queued, _ = operations.list_recent(conn, OperationStatus.QUEUED, 20, 0)
    hooks, _ = subscriptions.list_webhooks(conn, 1000, 0)
    return Snapshot(
        now=now,
        per_minute=queries.events_per_minute(conn, since),
        latencies=queries.delivery_latencies(conn, since),
        active=running + queued,
        webhooks=hooks,
        backlogs=metrics.backlogs(conn, now),
        oldest=queries.oldest_undelivered(conn),
        position=log.newest_position(conn),
    )


@dataclass(frozen=True, slots=True)
class Overview:
    """What the page shows (pure, from a ``Snapshot``)."""

    events_last_hour: int
    events_chart: Markup
    latency_chart: Markup
    latency_p50: float | None
    active: list[Operation]
    attention: list[dict[str, Any]]  # webhooks failing, disabled or lagging
    healthy: int
    oldest: queries.Undelivered | None
    position: int


def overview_of(snap: Snapshot) -> Overview:
    keys = charts.minute_keys(snap.now, WINDOW_MINUTES)
    counts = [snap.per_minute.get(k, 0) for k in keys]
    labels = [f"{k[11:]} UTC" for k in keys]
    by_minute: dict[str, list[float]] = {}
    for answered, seconds in snap.latencies:
        by_minute.setdefault(answered.strftime("%Y-%m-%d %H:%M"), []).append(seconds)
    p50 = [charts.percentile(by_minute.get(k, []), 50) for k in keys]
    p95 = [charts.percentile(by_minute.get(k, []), 95) for k in keys]
    attention = [attention_of(w, snap.backlogs.get(w["id"])) for w in snap.webhooks]
    return Overview(
        events_last_hour=sum(counts),
        events_chart=charts.bar_chart(counts, title="Events per minute, last hour", labels=labels),
        latency_chart=charts.line_chart(
            [charts.Series("p50", p50), charts.Series("p95", p95, "p95")],
            title="Commit to delivery, per minute, last hour",
            labels=labels,
            unit="s",
        ),
        latency_p50=charts.percentile([s for _, s in snap.latencies], 50),
        active=snap.active,
        attention=[a for a in attention if a["problems"]],
        healthy=sum(1 for a in attention if not a["problems"]),
        oldest=snap.oldest,
        position=snap.position,
    )


def attention_of(hook: dict[str, Any], backlog: metrics.Backlog | None) -> dict[str, Any]:
    """A webhook with what is wrong with it (an empty ``problems``: nothing)."""
    health = hook["health"]
    problems = []
    if health["status"] != "healthy":
        problems.append(health["status"])
    if health["laggingSince"]:
        problems.append("lagging")
    return {
        **hook,
        "problems": problems,
        "undelivered": backlog.undelivered if backlog else 0,
        "oldestPending": backlog.oldest_created_at if backlog else None,
    }


async def _overview(request: Request) -> Overview:
    console = console_of(request)
    now = console.ctx.clock()
    return overview_of(await console.read(lambda conn: gather(conn, now)))


async def overview(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    found = await _overview(request)
    return render(
        request, "overview.html", viewer, active="overview", o=found, refresh=REFRESH_SECONDS
    )


@router.get("/overview/panel")
async def panel(request: Request, viewer: Viewer = Depends(signed_in)) -> Response:
    found = await _overview(request)
    return render(request, "overview_panel.html", viewer, o=found, refresh=REFRESH_SECONDS)
