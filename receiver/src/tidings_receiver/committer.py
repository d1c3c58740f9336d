"""Group commit: the deliveries that arrive together are stored in one transaction.

SQLite commits one transaction at a time, each with its fixed cost (and with
``synchronous=FULL`` a disk flush), so a transaction per delivery caps a receiver at one
commit per delivery. Instead every ``accept`` hands its delivery to one writer thread and waits;
the writer stores whatever has queued up meanwhile in a single transaction, then answers
each waiting caller. Nothing is answered before its commit, so nothing answered is lost,
and a lone delivery still commits at once (the writer never waits to fill a batch). A
delivery queued is stored even if its caller stops waiting (a cancelled request): its
sender tries again, and the inbox de-duplicates.

If a batch fails, its deliveries are tried again one transaction each, so one bad delivery
fails alone.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime

from tidings_receiver.event import Incoming

MAX_BATCH = 500
Write = Callable[[Sequence[tuple[Incoming, datetime]]], list[bool]]
# Who waits for a delivery's commit: a thread (a Future), or a coroutine (its loop and an
# asyncio future, settled from that loop: one wake-up per batch and loop, not per delivery).
Waiter = Future[bool] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[bool]"]
_Item = tuple[Incoming, datetime, Waiter]
Outcome = bool | Exception


class Committer:
    def __init__(self, write: Write) -> None:
        self._write = write
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    def submit(self, incoming: Incoming, now: datetime) -> Future[bool]:
        """Queue a delivery; the future holds whether it was new, once committed."""
        done: Future[bool] = Future()
        self._put((incoming, now, done))
        return done

    def submit_async(self, incoming: Incoming, now: datetime) -> asyncio.Future[bool]:
        """``submit`` for a coroutine: await the future it returns."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._put((incoming, now, (loop, done)))
        return done

    def _put(self, item: _Item) -> None:
        # After a fork the child has the queue but not the thread: start its own.
        if self._thread is None or self._pid != os.getpid():
            with self._start_lock:
                if self._thread is None or self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                    self._pid = os.getpid()
                    self._thread = threading.Thread(
                        target=self._run, name="tidings-inbox-commit", daemon=True
                    )
                    self._thread.start()
        self._queue.put(item)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._settle(batch, self._commit(batch))

    def _commit(self, batch: list[_Item]) -> list[Outcome]:
        try:
            return list(self._write([(incoming, now) for incoming, now, _ in batch]))
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            return [self._commit([item])[0] for item in batch]

    def _settle(self, batch: list[_Item], outcomes: list[Outcome]) -> None:
        loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], Outcome]]] = {}
        for (_, _, waiter), outcome in zip(batch, outcomes, strict=True):
            if isinstance(waiter, Future):
                if waiter.set_running_or_notify_cancel():
                    _set(waiter, outcome)
            else:
                loops.setdefault(waiter[0], []).append((waiter[1], outcome))
        for loop, settled in loops.items():
            with suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle_in_loop, settled)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the writer thread."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join(timeout)
        self._thread = None


def _set(waiter: Future[bool] | asyncio.Future[bool], outcome: Outcome) -> None:
    if isinstance(outcome, Exception):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)


def _settle_in_loop(settled: list[tuple[asyncio.Future[bool], Outcome]]) -> None:
    for waiter, outcome in settled:
        if not waiter.done():  # a cancelled request
            _set(waiter, outcome)
