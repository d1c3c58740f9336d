"""The webhook dispatcher: from the event log to every subscribed endpoint, signed,
retried, isolated per endpoint.

One loop, in its own thread with its own asyncio loop (``DispatcherThread``), inside
``tidings serve`` or alone as ``tidings worker``, turn after turn:

1. **Record and claim** (one write transaction, ``_turn``): the attempts that finished
   since the last turn are stored, each delivery moved on by the schedule (``schedule``)
   and each webhook's health kept; new events become deliveries (``store.fan_out``); due
   deliveries are taken under a lease, so that several workers on PostgreSQL share them
   (``SKIP LOCKED``) and a dead worker's deliveries are taken again once its lease runs
   out. Endpoints at their concurrency cap are left out of the claim, so a slow or dead
   endpoint never fills the batch that the others wait on.
2. **Send**: each delivery is its own task, signed (``signing``) and posted over one
   keep-alive session (``sender``); tasks finish independently, and their results wait
   for the next turn.

A webhook that answers 410, or fails without a success for
``TIDINGS_WEBHOOK_DISABLE_AFTER_DAYS``, is disabled; what it misses is kept. Changes of
health are announced in the same transaction (``webhook.failing``, ``.recovered``,
``.disabled``, and ``.lagging``, checked once a second).

A turn starts at once while there was something to claim, when half of a webhook's slots
are free again, and on a commit: in-process through ``outbox.on_commit``, across
processes through ``LISTEN tidings_events`` on PostgreSQL (``db.wakeup``); a short poll is
the floor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import timedelta

import aiohttp
import orjson

from tidings.clock import Clock, isoformat
from tidings.config import Settings
from tidings.db import retry
from tidings.db.engine import Database
from tidings.db.wakeup import EVENTS, Waiter
from tidings.events import outbox
from tidings.events.outbox import Tx, transaction
from tidings.ids import new_id
from tidings.webhooks import history, metrics, sender, signing, store
from tidings.webhooks.schedule import DEFAULT_SCHEDULE, Attempt, Verdict, next_delay, parse_schedule
from tidings.webhooks.targets import Network

logger = logging.getLogger("tidings.webhooks")

CLAIM_BATCH = 500
HOLD = 2  # a dispatcher holds up to twice a webhook's cap: that many sending, as many waiting
LAG_CHECK_EVERY_SECONDS = 1.0
PRUNE_BATCH = 5000
PRUNE_EVERY_SECONDS = 3600.0


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        instance_secret: str,
        allowed: list[Network],
    ) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.instance_secret, self.allowed = instance_secret, allowed
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('d')[-8:]}"
        self.schedule = (
            parse_schedule(settings.retry_schedule) if settings.retry_schedule else DEFAULT_SCHEDULE
        )
        # Longer than a held delivery waits for a slot and is then sent (each at most an
        # attempt's timeout), so a live dispatcher never loses a delivery it holds.
        self.lease = timedelta(
            seconds=max(settings.worker_lease_seconds, HOLD * settings.webhook_timeout_seconds + 5)
        )
        self._in_flight: dict[int, int] = defaultdict(int)  # per webhook
        self._queued: dict[int, deque[store.Due]] = defaultdict(deque)  # claimed, not sent
        self._results: list[store.Result] = []
        self._wake = asyncio.Event()  # set to start the next turn at once
        self._caps: dict[int, int] = {}  # each webhook's maxConcurrency, as last claimed
        self._lag_checked = 0.0  # time.monotonic() of the last lag check
        self._quiet_until = 0.0  # no enabled webhook: don't look again before this

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stopping: threading.Event, waiter: Waiter) -> None:
        """Until ``stopping`` is set, turn after turn: record what finished and claim what
        is due (one transaction), send; wait for a wake-up when there is nothing to claim."""
        client = sender.session(
            self.allowed,
            self.settings.webhook_connect_timeout_seconds,
            self.settings.webhook_timeout_seconds,
        )
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        forwarding = threading.Thread(
            target=self._forward_wakeups, args=(waiter, stopping, loop), daemon=True
        )
        forwarding.start()
        poll = self.settings.webhook_poll_seconds
        async with client, asyncio.TaskGroup() as self._tasks:
            self._client = client
            last_prune = 0.0
            while not stopping.is_set():
                if time.monotonic() - last_prune > PRUNE_EVERY_SECONDS:
                    last_prune = time.monotonic()
                    await asyncio.to_thread(self.prune_attempts)
                self._wake.clear()
                # Copies: the tasks change both while the turn runs in a thread.
                results, self._results = self._results, []
                claimed: list[store.Due] = []
                try:
                    busy = bool(results or self._held())
                    if busy or await self._any_enabled(poll):
                        claimed, self._caps = await asyncio.to_thread(
                            self._turn, results, self._held()
                        )
                except Exception:
                    # Their leases run out, and the deliveries are sent again: at least once.
                    logger.exception("recording %d attempts and claiming failed", len(results))
                    claimed = []
                for due in claimed:
                    self._queued[due.webhook_id].append(due)
                for webhook_id in {due.webhook_id for due in claimed}:
                    self._send_queued(webhook_id)
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), poll)
            # Stopping: the tasks in flight finish (bounded by the timeouts) and are
            # recorded; the claimed ones not yet sent are given back.
        unsent = [due.id for queue in self._queued.values() for due in queue]
        self._queued.clear()
        await asyncio.to_thread(self._turn, self._results, None, unsent)
        await asyncio.to_thread(forwarding.join)

    async def _any_enabled(self, poll: float) -> bool:
        """Whether a turn could find work. With no enabled webhook there is none, and a
        turn would open a write transaction on every commit (on SQLite queued for the one
        write lock with the requests). The answer "none" is kept for one poll interval:
        a webhook created meanwhile gets its first delivery at most that much later.
        Measured on SQLite, creating conversations with no webhook: a turn on every
        commit cost ~1 ms of CPU per create, a read on every commit ~1.4 ms, this ~0."""
        if time.monotonic() < self._quiet_until:
            return False
        found = await asyncio.to_thread(self._read_any_enabled)
        self._quiet_until = 0.0 if found else time.monotonic() + poll
        return found

    def _read_any_enabled(self) -> bool:
        with self.db.read() as conn:
            return store.any_enabled(conn)

    def _held(self) -> dict[int, int]:
        """Per webhook, the deliveries this dispatcher holds: sending, or claimed and
        waiting for a free slot."""
        held = defaultdict(int, self._in_flight)
        for webhook_id, queue in self._queued.items():
            held[webhook_id] += len(queue)
        return dict(held)

    def _send_queued(self, webhook_id: int) -> None:
        """Start the webhook's claimed deliveries while it has free slots."""
        queue, cap = self._queued[webhook_id], self._caps.get(webhook_id, 0)
        while queue and self._in_flight[webhook_id] < cap:
            self._in_flight[webhook_id] += 1
            self._tasks.create_task(self._deliver(self._client, queue.popleft()))

    def _forward_wakeups(
        self, waiter: Waiter, stopping: threading.Event, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Wake the loop on a commit (in this process, or a NOTIFY from another) or a poll."""
        while not stopping.is_set():
            waiter.wait(self.settings.webhook_poll_seconds)
            if loop.is_closed():
                return
            if time.monotonic() < self._quiet_until:
                continue  # no webhook to deliver to: the loop looks again when this ends
            loop.call_soon_threadsafe(self._wake.set)

    def _turn(
        self,
        results: list[store.Result],
        held: dict[int, int] | None,
        release: Sequence[str] = (),
    ) -> tuple[list[store.Due], dict[int, int]]:
        """One transaction: record ``results``, give back ``release``, then (unless
        ``held`` is None) fan out, keep the webhooks' health, and claim what there is room
        for. Tried again on a transient error (two dispatchers can deadlock on
        PostgreSQL)."""
        attempt = 1
        while True:
            try:
                with transaction(self.db, self.clock) as tx:
                    if results:
                        store.record(tx, results, self.owner)
                    store.release(tx.conn, release)
                    if held is None:
                        return [], self._caps
                    return self._claim_in(tx, held)
            except Exception as exc:
                pause = retry.delay(attempt, exc)
                if pause is None:
                    raise
                time.sleep(pause)
                attempt += 1

    def _claim(self, held: dict[int, int]) -> tuple[list[store.Due], dict[int, int]]:
        return self._turn([], held)

    def _record(self, batch: list[store.Result]) -> None:
        self._turn(batch, None)

    def _claim_in(self, tx: Tx, held: dict[int, int]) -> tuple[list[store.Due], dict[int, int]]:
        """Claim up to ``HOLD`` times each webhook's cap, less what it ``held`` already: a
        slot freed by a finished delivery is refilled from what is held, at once, and a
        turn takes a batch large enough to be worth its transaction."""
        conn, now = tx.conn, tx.now  # the transaction holds the lock: leases start now
        store.fan_out(conn, now)
        for webhook_id in store.failing_too_long(conn, now, self._disable_after):
            store.disable(tx, webhook_id, "failing without a success too long")
        if time.monotonic() - self._lag_checked >= LAG_CHECK_EVERY_SECONDS:
            self._lag_checked = time.monotonic()
            store.check_lag(tx, timedelta(seconds=self.settings.webhook_lag_seconds))
        caps = store.concurrency_caps(conn)
        windows = {w: HOLD * cap for w, cap in caps.items()}
        full = [w for w, n in held.items() if n >= windows.get(w, 0)]
        # No more than there is room for: claiming more, to give most of it back at
        # once, cost more than the sending.
        room = sum(max(0, window - held.get(w, 0)) for w, window in windows.items())
        if room == 0:
            return [], caps
        limit = min(CLAIM_BATCH, room)
        claimed = store.claim(conn, self.owner, now, self.lease, limit, exclude=full)
        kept, extra = within_caps(claimed, windows, held)
        store.release(conn, [d.id for d in extra])
        return kept, caps

    def prune_attempts(self) -> int:
        """Delete attempts, and deliveries that ended, older than
        ``TIDINGS_ATTEMPT_RETENTION_DAYS``, a batch a transaction; how many rows."""
        cutoff = self.clock() - timedelta(days=self.settings.attempt_retention_days)
        pruned = 0
        for prune in (history.prune_attempts, history.prune_deliveries):
            while True:
                try:
                    with self.db.write() as conn:
                        count = prune(conn, cutoff, PRUNE_BATCH)
                except Exception:
                    logger.exception("pruning delivery history failed")
                    return pruned
                pruned += count
                if count < PRUNE_BATCH:
                    break
        return pruned

    @property
    def _disable_after(self) -> timedelta:
        return timedelta(days=self.settings.webhook_disable_after_days)

    # --- one delivery ------------------------------------------------------------------

    async def _deliver(self, client: aiohttp.ClientSession, due: store.Due) -> None:
        try:
            body = self.body(due)
            now = self.clock()
            headers = signing.headers(
                event_type=due.event_type,
                message_id=due.id,
                timestamp=int(now.timestamp()),
                sequence=due.sequence,
                body=body,
                instance_secret=self.instance_secret,
                secrets=due.secrets,
                webhook_id=due.webhook_id,
                event_id=due.event_id,
                event_seq=due.event_seq,
            )
            sent = await sender.post(client, due.url, body, headers, self.allowed, self.clock)
        except Exception as exc:
            # Never let one delivery take the others down with it: a failed attempt.
            logger.exception("delivery %s failed unexpectedly", due.id)
            sent = sender.Sent(
                self.clock(), 0, None, error_class=type(exc).__name__, error=str(exc)
            )
        try:
            self._results.append(self.result(due, sent))
            metrics.attempt_recorded(
                metrics.outcome(sent.status), metrics.commit_to_receipt(due.event_created_at, sent)
            )
        finally:
            self._in_flight[due.webhook_id] -= 1
            self._send_queued(due.webhook_id)
            # Claim again now rather than at the next poll, once the webhook holds no
            # more than its cap: a claim per freed slot would cost a transaction a delivery.
            held = self._in_flight[due.webhook_id] + len(self._queued[due.webhook_id])
            if held == self._caps.get(due.webhook_id, 1):
                self._wake.set()

    def body(self, due: store.Due) -> bytes:
        """FreeScout's body (the event's payload, byte for byte), or the envelope."""
        if due.format != "envelope":
            return due.payload
        return orjson.dumps(
            {
                "id": due.event_id,
                "type": due.event_type,
                "seq": due.event_seq,
                "createdAt": isoformat(due.event_created_at),
                "data": orjson.Fragment(due.payload),
            }
        )

    def result(self, due: store.Due, sent: sender.Sent) -> store.Result:
        """Pure: the record of ``sent`` and what follows it."""
        attempt = Attempt(sent.status, sent.retry_after)
        number = due.attempts + 1
        delay = next_delay(number, attempt, self.schedule)
        return store.Result(
            delivery_id=due.id,
            webhook_id=due.webhook_id,
            number=number,
            started_at=sent.started_at,
            status_code=sent.status,
            latency_ms=sent.latency_ms,
            response_body=sent.response_body,
            error_class=sent.error_class,
            error=sent.error,
            next_attempt_at=None if delay is None else sent.started_at + timedelta(seconds=delay),
            delivered=attempt.verdict is Verdict.DELIVERED,
            gone=attempt.verdict is Verdict.GONE,
        )


def within_caps(
    claimed: list[store.Due], caps: dict[int, int], in_flight: dict[int, int]
) -> tuple[list[store.Due], list[store.Due]]:
    """Pure: the claimed deliveries each webhook has room for, and the rest."""
    taken: dict[int, int] = defaultdict(int)
    kept, extra = [], []
    for due in claimed:
        free = caps.get(due.webhook_id, 0) - in_flight.get(due.webhook_id, 0)
        if taken[due.webhook_id] < free:
            taken[due.webhook_id] += 1
            kept.append(due)
        else:
            extra.append(due)
    return kept, extra


class DispatcherThread:
    """Runs the dispatcher in the background of ``tidings serve`` or ``tidings worker``."""

    def __init__(self, dispatcher: Dispatcher, settings: Settings) -> None:
        self.dispatcher = dispatcher
        self.waiter = Waiter(settings.database_url, EVENTS)
        self._stopping = threading.Event()
        self._remove_hook = outbox.on_commit(self.waiter.set)
        self._thread = threading.Thread(target=self._main, name="tidings-webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.waiter.set()
        self._thread.join(timeout=self.dispatcher.settings.webhook_timeout_seconds + 15)
        self._remove_hook()
        self.waiter.close()

    def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                asyncio.run(self.dispatcher.run(self._stopping, self.waiter))
            except Exception:
                logger.exception("webhook dispatcher stopped; starting again")
                self._stopping.wait(1)
