"""The inbox on a real SQLite file: accept, de-duplicate, handle in log order, retry,
dead letters, one worker per file, and the sequences it tracks. The clock is the only
thing faked."""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from receiver_kit import OTHER_SECRET, SECRET, FakeClock, delivery, wait_for
from tidings_receiver import Backoff, BadSignature, Event, Hole, Inbox

THIRD_SECRET = "whsec_" + base64.b64encode(b"3" * 32).decode()
NO_JITTER = Backoff(base=timedelta(seconds=2), jitter=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "inbox.sqlite3"


@pytest.fixture
def inbox(path: Path, clock: FakeClock) -> Iterator[Inbox]:
    with Inbox(path, SECRET, clock=clock, backoff=NO_JITTER, max_attempts=3) as made:
        yield made


def send(inbox: Inbox, clock: FakeClock, n: int, **kw: Any) -> Any:
    """Accept delivery number ``n`` (event ``evt_n`` at log position ``10 * n``)."""
    options = {"event_id": f"evt_{n}", "seq": 10 * n, "sequence": n, **kw}
    return inbox.accept(*delivery({"id": n}, timestamp=clock.now, **options))


def test_events_reach_their_handlers_in_log_order(inbox: Inbox, clock: FakeClock) -> None:
    seen: list[tuple[str, Event]] = []
    inbox.on("convo.created", lambda e: seen.append(("created", e)), name="created")
    inbox.on("*", lambda e: seen.append(("all", e)), name="all")
    for n in (3, 1, 2):  # deliveries arrive out of order
        accepted = send(
            inbox, clock, n, event_type="customer.created" if n == 2 else "convo.created"
        )
        assert (accepted.event_id, accepted.duplicate) == (f"evt_{n}", False)
    assert inbox.counts() == {"pending": 3, "done": 0, "dead": 0}
    assert inbox.process() == 3
    assert [(name, e.id) for name, e in seen] == [
        ("created", "evt_1"),
        ("all", "evt_1"),
        ("all", "evt_2"),
        ("created", "evt_3"),
        ("all", "evt_3"),
    ]
    event = seen[0][1]
    assert (event.type, event.seq, event.webhook_id, event.sequence, event.message_id) == (
        "convo.created",
        10,
        1,
        1,
        "msg_evt_1",
    )
    assert (event.data, event.body, event.source, event.attempt) == (
        {"id": 1},
        b'{"id":1}',
        "delivery",
        1,
    )
    assert event.received_at == clock.now
    assert inbox.counts() == {"pending": 0, "done": 3, "dead": 0}
    assert inbox.process() == 0


def test_the_same_delivery_twice_is_processed_once(
    inbox: Inbox, clock: FakeClock, path: Path
) -> None:
    handled: list[str] = []
    inbox.on("*", lambda e: handled.append(e.id))
    body, headers = delivery({"id": 1}, event_id="evt_1", sequence=1)
    assert inbox.accept(body, headers).duplicate is False
    assert inbox.accept(body, headers).duplicate is True  # the sender's retry
    assert inbox.process() == 1
    # After handling, a replay (same webhook-id) and the same event through another
    # webhook (another webhook-id) are duplicates too: the key is the event id.
    assert inbox.accept(body, headers).duplicate is True
    other = delivery({"id": 1}, event_id="evt_1", webhook_id=2, sequence=1, message_id="msg_X")
    assert inbox.accept(*other).duplicate is True
    assert inbox.process() == 0
    with Inbox(path, SECRET, clock=clock) as reopened:  # and after a restart
        assert reopened.accept(body, headers).duplicate is True
    assert handled == ["evt_1"]
    assert inbox.counts() == {"pending": 0, "done": 1, "dead": 0}


def test_a_refused_delivery_is_not_stored(inbox: Inbox) -> None:
    body, headers = delivery({"id": 1}, secrets=(OTHER_SECRET,))
    with pytest.raises(BadSignature):
        inbox.accept(body, headers)
    assert inbox.counts() == {"pending": 0, "done": 0, "dead": 0}


def test_a_failing_handler_is_retried_with_backoff_then_becomes_a_dead_letter(
    inbox: Inbox, clock: FakeClock
) -> None:
    attempts: list[int] = []
    healthy = threading.Event()

    def flaky(event: Event) -> None:
        attempts.append(event.attempt)
        if not healthy.is_set():
            raise RuntimeError("database down")

    inbox.on("*", flaky)
    send(inbox, clock, 1)
    assert inbox.process() == 1
    assert inbox.process() == 0  # due again in 2 s
    clock.advance(1.9)
    assert inbox.process() == 0
    clock.advance(0.1)
    assert inbox.process() == 1
    clock.advance(4)  # the second retry waits twice as long
    assert inbox.process() == 1
    assert attempts == [1, 2, 3]
    (dead,) = inbox.dead_letters()
    assert (dead.event.id, dead.attempts, dead.failed_at) == ("evt_1", 3, clock.now)
    assert "RuntimeError: database down" in dead.error
    assert "flaky" in dead.error
    clock.advance(3600)
    assert inbox.process() == 0  # a dead letter waits
    healthy.set()
    assert inbox.retry_dead_letter("evt_1") is True
    assert inbox.retry_dead_letter("evt_1") is False  # no longer dead
    assert inbox.retry_dead_letter("evt_nope") is False
    assert inbox.process() == 1
    assert attempts == [1, 2, 3, 1]
    assert inbox.dead_letters() == []
    assert inbox.counts() == {"pending": 0, "done": 1, "dead": 0}


def test_a_retry_runs_only_the_handlers_that_failed(inbox: Inbox, clock: FakeClock) -> None:
    calls: list[str] = []
    failures = iter([True, False])

    def steady(event: Event) -> None:
        calls.append("steady")

    def once_failing(event: Event) -> None:
        calls.append("once_failing")
        if next(failures):
            raise ValueError("not yet")

    inbox.on("*", steady)
    inbox.on("convo.created", once_failing)
    send(inbox, clock, 1)
    inbox.process()
    clock.advance(2)
    inbox.process()
    assert calls == ["steady", "once_failing", "once_failing"]
    assert inbox.counts()["done"] == 1


def test_a_dead_letter_retried_runs_only_the_handlers_that_failed(
    path: Path, clock: FakeClock
) -> None:
    calls: list[str] = []
    healthy = threading.Event()

    def broken(event: Event) -> None:
        calls.append("broken")
        if not healthy.is_set():
            raise ValueError("still broken")

    with Inbox(path, SECRET, clock=clock, max_attempts=1) as inbox:
        inbox.on("*", lambda e: calls.append("steady"), name="steady")
        inbox.on("*", broken)
        send(inbox, clock, 1)
        inbox.process()
        assert inbox.counts()["dead"] == 1
        healthy.set()
        assert inbox.retry_dead_letter("evt_1")
        inbox.process()
    assert calls == ["steady", "broken", "broken"]


def test_an_attempt_that_kills_the_process_is_counted(path: Path, clock: FakeClock) -> None:
    """A handler that takes its process down (here: an exception no handler catches) leaves
    the attempt counted; after max_attempts such deaths the event is a dead letter, not an
    endless crash loop."""
    with Inbox(path, SECRET, clock=clock, backoff=NO_JITTER, max_attempts=2) as first:
        first.on("*", lambda e: (_ for _ in ()).throw(KeyboardInterrupt()), name="fatal")
        send(first, clock, 1)
        with pytest.raises(KeyboardInterrupt):
            first.process()
    seen: list[int] = []
    clock.advance(2)
    with Inbox(path, SECRET, clock=clock, backoff=NO_JITTER, max_attempts=2) as second:
        second.on("*", lambda e: seen.append(e.attempt), name="fatal")
        assert second.process() == 1
        assert seen == [2]
    with Inbox(path, SECRET, clock=clock, backoff=NO_JITTER, max_attempts=1) as third:
        send(third, clock, 2)
        third.on("*", lambda e: (_ for _ in ()).throw(KeyboardInterrupt()), name="fatal")
        with pytest.raises(KeyboardInterrupt):
            third.process()
        clock.advance(2)
        assert third.process() == 1  # not run again: given up
        (dead,) = third.dead_letters()
    assert dead.event.id == "evt_2"
    assert "died during its last 1 attempts" in dead.error


def test_one_worker_per_inbox_file(path: Path, clock: FakeClock) -> None:
    handled: list[str] = []
    first = Inbox(path, SECRET, clock=clock)
    second = Inbox(path, SECRET, clock=clock)
    second.on("*", lambda e: handled.append(e.id))
    try:
        assert first.process() == 0  # first takes the worker lock
        send(second, clock, 1)  # any process may accept
        assert second.process() == 0
        first.close()
        assert second.process() == 1
    finally:
        first.close()
        second.close()
    assert handled == ["evt_1"]


def test_the_worker_thread_handles_what_is_accepted(path: Path) -> None:
    handled: list[str] = []
    with Inbox(path, SECRET, poll_interval=30) as inbox:
        inbox.on("*", lambda e: handled.append(e.id))
        assert inbox.start() is inbox.start()  # already running: the same thread
        now = datetime.now(UTC)
        for n in (1, 2):
            inbox.accept(*delivery({"id": n}, event_id=f"evt_{n}", timestamp=now))
        # The accept wakes the worker: no 30 s poll.
        wait_for("both events", lambda: len(handled) == 2, timeout=10)
        inbox.stop()
        assert not inbox.running
    assert handled == ["evt_1", "evt_2"]


def test_events_done_long_ago_are_forgotten(path: Path, clock: FakeClock) -> None:
    with Inbox(path, SECRET, clock=clock, keep_done=timedelta(days=1)) as inbox:
        send(inbox, clock, 1)
        inbox.process()
        clock.advance(86_400 + 3_600)
        send(inbox, clock, 2)
        inbox.process()
        assert inbox.counts() == {"pending": 0, "done": 1, "dead": 0}
        assert send(inbox, clock, 1).duplicate is False  # its id no longer de-duplicates


def test_missing_sequences_are_gaps_until_they_arrive(inbox: Inbox, clock: FakeClock) -> None:
    for n in (1, 2, 5, 7):
        send(inbox, clock, n)
        clock.advance(1)
    assert inbox.gaps() == [
        Hole(1, 3, 4, after=20, before=50, since=clock.now - timedelta(seconds=2)),
        Hole(1, 6, 6, after=50, before=70, since=clock.now - timedelta(seconds=1)),
    ]
    for n in (3, 6, 4):
        send(inbox, clock, n)
    assert inbox.gaps() == []
    assert inbox.lost() == []


def test_the_stream_forgets_the_sequences_it_has_passed(
    inbox: Inbox, clock: FakeClock, path: Path
) -> None:
    for n in range(1, 101):
        send(inbox, clock, n)
    assert inbox.gaps() == []
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM marks").fetchone() == (0,)
        assert conn.execute("SELECT through, position FROM streams").fetchall() == [(100, 1000)]


def test_handlers_are_named_once(inbox: Inbox) -> None:
    @inbox.on("convo.created")
    def copy(event: Event) -> None:
        pass

    with pytest.raises(ValueError, match="already registered"):
        inbox.on("convo.created", copy)
    inbox.on("convo.status", copy)  # another type: another handler
    inbox.on("convo.created", copy, name="copy-again")


def test_several_webhooks_may_deliver_into_one_inbox(path: Path, clock: FakeClock) -> None:
    """Each with its own secret; an event both deliver is handled once."""
    with Inbox(path, [SECRET, OTHER_SECRET], clock=clock) as inbox:
        first = delivery({"id": 1}, event_id="evt_1", webhook_id=1, sequence=1)
        second = delivery(
            {"id": 1}, event_id="evt_1", webhook_id=2, sequence=1, secrets=(OTHER_SECRET,)
        )
        assert inbox.accept(*first).duplicate is False
        assert inbox.accept(*second).duplicate is True
        with pytest.raises(BadSignature):
            inbox.accept(*delivery({"id": 2}, event_id="evt_2", secrets=(THIRD_SECRET,)))


def test_an_inbox_needs_a_secret_and_confirming_deletes_needs_the_api(path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        Inbox(path, "")
    with pytest.raises(ValueError, match="secret"):
        Inbox(path, [])
    with pytest.raises(ValueError, match="base64"):
        Inbox(path, "whsec_*")
    with pytest.raises(ValueError, match="api_url"):
        Inbox(path, SECRET, confirm_deletes=True)
