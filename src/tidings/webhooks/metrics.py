"""Prometheus metrics: what the database holds at scrape time, and what this process sent.

Two sources, exposed together by ``registry(...)`` at ``GET /metrics`` and by
``tidings worker --metrics-port`` (docs/metrics.md):

- **The database**, read by ``DatabaseCollector`` at each scrape: a few aggregate queries
  in one read transaction (undelivered deliveries per webhook, webhooks by health,
  operations by status, the event log's position). Every process reports the same values.
- **This process**, counted as its dispatcher goes: ``attempt_recorded`` after each
  attempt (``tidings_delivery_attempts_total``, ``tidings_delivery_latency_seconds``).

Each app gets its own ``CollectorRegistry``, never prometheus_client's global one, so
that several apps in one process (the tests) each read their own database. The attempt
counters are the process's: every registry shows the same ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Connection, and_, case, func, select

from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.db.schema import deliveries, events, operations, webhooks
from tidings.webhooks.schedule import Attempt
from tidings.webhooks.sender import Sent
from tidings.webhooks.store import PENDING
from tidings.webhooks.subscriptions import health_status as health

DELIVERED, FAILED, GONE, ERROR = "delivered", "failed", "gone", "error"
OUTCOMES = (DELIVERED, FAILED, GONE, ERROR)
HEALTH = ("healthy", "failing", "disabled")
# From a receiver on the same host (~1 ms) to a minute, past the attempt timeout (15 s by
# default); a delivery that succeeds on a retry lands above the last bucket, in +Inf.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Registered in no registry here: ``registry`` adds them to each app's.
ATTEMPTS = Counter(
    "tidings_delivery_attempts",
    "Delivery attempts made by this process's dispatcher, by outcome: delivered (2xx),"
    " failed (another HTTP status), gone (410: the webhook is disabled), error (no answer).",
    ["outcome"],
    registry=None,
)
LATENCY = Histogram(
    "tidings_delivery_latency_seconds",
    "From the event's commit (its createdAt) to the receiver's 2xx answer, for each"
    " delivery this process's dispatcher delivered.",
    buckets=LATENCY_BUCKETS,
    registry=None,
)
for _outcome in OUTCOMES:
    ATTEMPTS.labels(_outcome)  # every outcome is exported from the start, at 0


# --- what the dispatcher calls ------------------------------------------------------------


def attempt_recorded(outcome: str, commit_to_receipt_seconds: float | None) -> None:
    """Count one attempt; a delivered one's ``commit_to_receipt_seconds`` goes into the
    latency histogram (None: not known, counted only)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown delivery outcome {outcome!r}")
    ATTEMPTS.labels(outcome).inc()
    if outcome == DELIVERED and commit_to_receipt_seconds is not None:
        # Clocks of two hosts (PostgreSQL's writers) can disagree by a little.
        LATENCY.observe(max(0.0, commit_to_receipt_seconds))


def outcome(status: int | None) -> str:
    """Pure: an attempt's outcome from its HTTP status (None: no answer at all)."""
    return ERROR if status is None else Attempt(status).verdict.value


def commit_to_receipt(committed_at: datetime, sent: Sent) -> float:
    """Pure: seconds from an event's ``created_at`` to the answer ``sent`` got."""
    return (sent.started_at - committed_at).total_seconds() + sent.latency_ms / 1000


# --- what the database holds ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backlog:
    """One webhook's pending deliveries."""

    undelivered: int = 0
    in_flight: int = 0  # under a lease that has not run out
    oldest_created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    backlogs: dict[int, Backlog]  # every webhook, by id
    health: dict[str, int]
    operations: dict[str, int]
    event_log_position: int


def backlogs(conn: Connection, now: datetime) -> dict[int, Backlog]:
    """Every webhook's pending deliveries. Per webhook, ``ix_deliveries_webhook_status``
    (webhook, status, created) leads straight to the pending ones: the delivered ones, the
    bulk of the table, are never read, and the oldest is the first."""
    pending = and_(deliveries.c.webhook_id == webhooks.c.id, deliveries.c.status == PENDING)
    rows = conn.execute(
        select(
            webhooks.c.id,
            func.count(deliveries.c.id),
            func.coalesce(func.sum(case((deliveries.c.lease_until > now, 1), else_=0)), 0),
            func.min(deliveries.c.created_at),
        )
        .select_from(webhooks.outerjoin(deliveries, pending))
        .group_by(webhooks.c.id)
    )
    return {int(w): Backlog(int(n), int(leased), oldest) for w, n, leased, oldest in rows}


def webhook_health(conn: Connection) -> dict[str, int]:
    """How many webhooks are healthy, failing and disabled (as the API's ``health``)."""
    counts = dict.fromkeys(HEALTH, 0)
    rows = conn.execute(select(webhooks.c.enabled, webhooks.c.consecutive_failures))
    for row in rows:
        counts[health(row)] += 1
    return counts


def operations_by_status(conn: Connection, statuses: Sequence[str]) -> dict[str, int]:
    """How many operations are in each status (every one of ``statuses``, 0 included)."""
    counts = dict.fromkeys(statuses, 0)
    rows = conn.execute(select(operations.c.status, func.count()).group_by(operations.c.status))
    counts.update({str(status): int(n) for status, n in rows})
    return counts


def event_log_position(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())


def snapshot(conn: Connection, now: datetime, operation_statuses: Sequence[str]) -> Snapshot:
    return Snapshot(
        backlogs=backlogs(conn, now),
        health=webhook_health(conn),
        operations=operations_by_status(conn, operation_statuses),
        event_log_position=event_log_position(conn),
    )


def families(snap: Snapshot, now: datetime) -> Iterator[Metric]:
    """Pure: the gauges of ``snap``."""
    undelivered = GaugeMetricFamily(
        "tidings_deliveries_undelivered",
        "Deliveries of the webhook still pending: due, waiting for a retry, or being sent.",
        labels=["webhook_id"],
    )
    in_flight = GaugeMetricFamily(
        "tidings_deliveries_in_flight",
        "Pending deliveries of the webhook claimed by a dispatcher (lease not run out).",
        labels=["webhook_id"],
    )
    oldest = GaugeMetricFamily(
        "tidings_oldest_undelivered_age_seconds",
        "Age of the webhook's oldest pending delivery; 0 when none is pending.",
        labels=["webhook_id"],
    )
    for webhook_id, backlog in sorted(snap.backlogs.items()):
        label = [str(webhook_id)]
        undelivered.add_metric(label, backlog.undelivered)
        in_flight.add_metric(label, backlog.in_flight)
        age = 0.0
        if backlog.oldest_created_at is not None:
            age = max(0.0, (now - backlog.oldest_created_at).total_seconds())
        oldest.add_metric(label, age)
    yield from (undelivered, in_flight, oldest)
    yield GaugeMetricFamily(
        "tidings_webhooks_disabled",
        "Webhooks disabled (by a 410, by failing too long, or by hand).",
        value=snap.health["disabled"],
    )
    yield _by("tidings_webhooks", "Webhooks by health, as the API reports it.", snap.health)
    yield _by("tidings_operations", "Bulk operations by status.", snap.operations)
    yield GaugeMetricFamily(
        "tidings_event_log_position",
        "The newest event's position in the log (events.seq).",
        value=snap.event_log_position,
    )


def _by(name: str, documentation: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status, n in counts.items():
        family.add_metric([status], n)
    return family


class DatabaseCollector:
    """The database's gauges, read at each scrape in one read transaction."""

    def __init__(self, db: Database, clock: Clock, operation_statuses: Sequence[str]) -> None:
        self.db, self.clock, self.operation_statuses = db, clock, operation_statuses

    def collect(self) -> Iterator[Metric]:
        with self.db.read() as conn:
            now = self.clock()
            snap = snapshot(conn, now, self.operation_statuses)
        yield from families(snap, now)


def registry(db: Database, clock: Clock, operation_statuses: Sequence[str]) -> CollectorRegistry:
    """One app's metrics: its database's gauges and this process's attempt counters.
    ``operation_statuses`` (every ``OperationStatus``) comes from the caller: operations
    sit above webhooks and are not imported here."""
    found = CollectorRegistry()
    found.register(DatabaseCollector(db, clock, operation_statuses))
    found.register(ATTEMPTS)
    found.register(LATENCY)
    return found
