"""The durable inbox: accept fast, handle later, lose nothing.

``accept(body, headers)`` verifies a delivery and stores it in one local transaction,
de-duplicated by its event id, and returns: answer the sender at once. Handlers run from
the inbox (``process()``, or a worker thread: ``start()``), each event in its own attempt,
in log order; an event whose handler raises is tried again with backoff, then kept as a
dead letter. Gaps in a webhook's ``X-Tidings-Sequence`` that outlive a grace period are
filled from the server's event log (with ``api_url`` and ``api_key``), so handlers see every
event even when a delivery was lost for good. An event stored is never lost: the process
may be killed at any point, and the next one picks up where it stopped (handlers run at
least once, so make them idempotent; ``Event.seq`` orders the events of the log).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar, overload

from tidings_receiver import recovery
from tidings_receiver.client import Client
from tidings_receiver.committer import Committer
from tidings_receiver.deletes import DELETED_FOREVER, confirm_deleted
from tidings_receiver.errors import DeleteNotConfirmed, VerificationError
from tidings_receiver.event import Accepted, DeadLetter, Event, Incoming, incoming
from tidings_receiver.gaps import Hole, Lost
from tidings_receiver.retry import Backoff, Retry, after_failure
from tidings_receiver.store import Pending, Store
from tidings_receiver.verify import TOLERANCE, check_secret, verify
from tidings_receiver.worker import WorkerLock

log = logging.getLogger("tidings_receiver")

DEFAULT_PATH = "tidings-inbox.sqlite3"
BATCH = 100
LARGE_BODY = 256 * 1024
PRUNE_EVERY = timedelta(hours=1)

Handler = Callable[[Event], object]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class _Registered:
    pattern: str  # an event type, or "*"
    key: str  # stable across restarts: which handlers an event has been through
    fn: Handler


class Inbox:
    def __init__(
        self,
        path: str | Path = DEFAULT_PATH,
        secret: str | Sequence[str] = "",
        *,
        api_url: str | None = None,
        api_key: str | None = None,
        tolerance: timedelta = TOLERANCE,
        max_attempts: int = 8,
        backoff: Backoff = Backoff(),
        gap_grace: timedelta = timedelta(seconds=60),
        confirm_deletes: bool = False,
        keep_done: timedelta = timedelta(days=30),
        poll_interval: float = 1.0,
        synchronous: str = "NORMAL",
        clock: Callable[[], datetime] | None = None,
        rand: Callable[[], float] = random.random,
        client: Client | None = None,
    ) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        if not all(secrets) or not secrets:
            raise ValueError("secret is the webhook's whsec_... secret, or the instance secret")
        for each in secrets:
            check_secret(each)
        if client is None and api_url and api_key:
            client = Client(api_url, api_key)
        if confirm_deletes and client is None:
            raise ValueError("confirm_deletes asks the API: give api_url and api_key")
        self.path = Path(path)
        # Several webhooks may deliver into one inbox, each signing with its own secret.
        self.secrets = secrets
        self.tolerance = tolerance
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.gap_grace = gap_grace
        self.confirm_deletes = confirm_deletes
        self.keep_done = keep_done
        self.poll_interval = poll_interval
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rand = rand
        self._client = client
        self._store = Store(self.path, synchronous=synchronous)
        self._committer = Committer(self._store.accept)
        self._handlers: list[_Registered] = []
        self._lock = WorkerLock(self.path)
        self._processing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned_at: datetime | None = None

    # --- receiving -------------------------------------------------------------------------

    def accept(self, body: bytes, headers: Mapping[str, str]) -> Accepted:
        """Verify and store a delivery (raises ``VerificationError`` for a bad one); returns
        once it is committed."""
        found = self._verified(body, headers)
        return self._accepted(found, self._committer.submit(found, self._clock()).result())

    async def accept_async(self, body: bytes, headers: Mapping[str, str]) -> Accepted:
        """``accept`` for an event loop: the commit is awaited, not waited for."""
        if len(body) > LARGE_BODY:  # hashing a large body would hold up the loop
            found = await asyncio.to_thread(self._verified, body, headers)
        else:
            found = self._verified(body, headers)
        return self._accepted(found, await self._committer.submit_async(found, self._clock()))

    def _verified(self, body: bytes, headers: Mapping[str, str]) -> Incoming:
        for n, secret in enumerate(self.secrets, 1):
            try:
                verify(body, headers, secret, tolerance=self.tolerance, now=self._clock)
                break
            except VerificationError:
                if n == len(self.secrets):
                    raise
        return incoming(body, headers)

    def _accepted(self, found: Incoming, new: bool) -> Accepted:
        if new:
            self._wake.set()
        return Accepted(found.id, duplicate=not new)

    # --- handlers --------------------------------------------------------------------------

    @overload
    def on(
        self, event_type: str, fn: None = None, *, name: str | None = None
    ) -> Callable[[H], H]: ...

    @overload
    def on(self, event_type: str, fn: H, *, name: str | None = None) -> H: ...

    def on(
        self, event_type: str, fn: H | None = None, *, name: str | None = None
    ) -> H | Callable[[H], H]:
        """Register ``fn(event)`` for an event type (or ``"*"``); usable as a decorator.

        ``name`` (default: the function's module and qualified name) must stay the same
        across restarts: it records which handlers an event has already been through.
        """

        def register(handler: H) -> H:
            label = name or f"{handler.__module__}.{handler.__qualname__}"
            key = f"{event_type} {label}"
            if any(r.key == key for r in self._handlers):
                raise ValueError(f"{label!r} is already registered for {event_type}")
            self._handlers.append(_Registered(event_type, key, handler))
            return handler

        return register(fn) if fn is not None else register

    def _handlers_for(self, event_type: str) -> list[_Registered]:
        return [r for r in self._handlers if r.pattern in (event_type, "*")]

    # --- processing ------------------------------------------------------------------------

    def process(self, limit: int | None = None) -> int:
        """Run the due events through their handlers, in log order, until none is due (or
        ``limit`` ran); how many ran. Fills the gaps that outlived their grace first.
        Returns 0 at once when another process is this inbox's worker (``worker.py``)."""
        with self._processing:
            if not self._lock.acquire():
                return 0
            self._gap_round()
            self._prune()
            ran, retried = 0, set[int]()
            while limit is None or ran < limit:
                size = BATCH if limit is None else min(BATCH, limit - ran)
                batch = self._store.due(self._clock(), size, skip=retried)
                if not batch:
                    break
                for pending in batch:
                    if not self._attempt(pending):
                        retried.add(pending.n)
                    ran += 1
            return ran

    def _attempt(self, pending: Pending) -> bool:
        """One attempt at one event; whether it succeeded."""
        n, attempt = pending.n, pending.event.attempt
        now = self._clock()
        if attempt > self.max_attempts:  # the earlier attempts died with their process
            error = f"the process running it died during its last {attempt - 1} attempts"
            self._store.finish(n, (), now, error=error)
            return False
        self._store.claim(n, attempt, now + self.backoff.delay(attempt, self._rand()))
        succeeded, errors = self._run_handlers(n, pending.event)
        now = self._clock()
        if not errors:
            self._store.finish(n, succeeded, now)
            return True
        step = after_failure(attempt, self.max_attempts, self.backoff, now, self._rand())
        retry_at = step.at if isinstance(step, Retry) else None
        self._store.finish(n, succeeded, now, error="; ".join(errors), retry_at=retry_at)
        if retry_at is None:
            log.error(
                "event %s (%s) is a dead letter: %s",
                pending.event.id,
                pending.event.type,
                "; ".join(errors),
            )
        return False

    def _run_handlers(self, n: int, event: Event) -> tuple[list[str], list[str]]:
        """The keys of the handlers that succeeded, and the errors of the others."""
        if self.confirm_deletes and event.type == DELETED_FOREVER:
            assert self._client is not None
            try:
                confirm_deleted(self._client, event)
            except DeleteNotConfirmed as exc:
                log.warning("event %s: %s", event.id, exc)
                return [], [f"DeleteNotConfirmed: {exc}"]
        done = self._store.handled(n)  # by earlier attempts (a dead letter retried too)
        succeeded: list[str] = []
        errors: list[str] = []
        for handler in self._handlers_for(event.type):
            if handler.key in done:
                continue
            try:
                handler.fn(event)
            except Exception as exc:
                log.warning("event %s: handler %s failed", event.id, handler.key, exc_info=True)
                errors.append(f"{handler.key}: {type(exc).__name__}: {exc}")
            else:
                succeeded.append(handler.key)
        return succeeded, errors

    def _gap_round(self) -> None:
        try:
            holes = recovery.open_holes(self._store)
            if self._client is not None and holes:
                now = self._clock()
                recovery.fill_due(self._store, self._client, holes, now, self.gap_grace)
        except Exception:  # the handlers must still run
            log.exception("the gap check failed")

    def _prune(self) -> None:
        now = self._clock()
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            self._store.prune(now - self.keep_done)

    # --- what needs attention --------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        return self._store.dead_letters()

    def retry_dead_letter(self, event_id: str) -> bool:
        """Make a dead letter pending again with a fresh set of attempts; whether it was one."""
        revived = self._store.revive(event_id, self._clock())
        if revived:
            self._wake.set()
        return revived

    def gaps(self) -> list[Hole]:
        """Sequences missing now, per webhook (filled from the log after ``gap_grace``)."""
        return recovery.open_holes(self._store)

    def lost(self) -> list[Lost]:
        """Gaps whose events the log no longer had: reconcile to repair what they changed."""
        return self._store.lost()

    def counts(self) -> dict[str, int]:
        """Events by status: ``pending``, ``done``, ``dead``."""
        return self._store.counts()

    # --- the worker ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """``process()`` until ``stop`` is set, waking when this process accepts an event
        and every ``poll_interval`` seconds (for events other processes accepted)."""
        while not stop.is_set():
            try:
                ran = self.process()
            except Exception:
                log.exception("processing the inbox failed; trying again")
                ran = 0
            if not ran:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    @property
    def running(self) -> bool:
        """Whether this inbox's worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> threading.Thread:
        """Run the worker in a daemon thread (``stop()`` ends it)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.run_forever, args=(self._stop,), name="tidings-inbox", daemon=True
            )
            self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30.0) -> None:
        """End the worker thread once its current event is done."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._committer.stop()
        self._lock.release()
        self._store.close()
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
