"""SIGKILL a real receiver process, between accept and handling and in the middle of a
handler: every event it answered 2xx for is handled afterwards, by the next process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from receiver_kit import SECRET, delivery, free_port, wait_for
from tidings_receiver import Event, Inbox

SCRIPT = Path(__file__).with_name("receiver_process.py")
EVENTS = 50


@contextmanager
def receiver_process(inbox: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(inbox), SECRET, str(port), *args])
    url = f"http://127.0.0.1:{port}/hook"

    def up() -> bool:
        assert proc.poll() is None, f"the receiver exited with {proc.returncode}"
        try:
            httpx.get(url, timeout=1)  # 405: the server answers
            return True
        except httpx.TransportError:
            return False

    try:
        wait_for("the receiver to answer", up)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def post_all(url: str) -> None:
    now = datetime.now(UTC)
    with httpx.Client(timeout=30) as client:
        for n in range(1, EVENTS + 1):
            body, headers = delivery(
                {"id": n}, event_id=f"evt_{n}", seq=n, sequence=n, timestamp=now
            )
            assert client.post(url, content=body, headers=headers).status_code == 204


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL


def recover(path: Path) -> list[Event]:
    """Handle what is left, in this process, with a clock past any retry delay."""
    handled: list[Event] = []
    later = datetime.now(UTC) + timedelta(hours=1)
    with Inbox(path, SECRET, clock=lambda: later) as inbox:
        inbox.on("*", handled.append, name="record")
        inbox.process()
        assert inbox.counts() == {"pending": 0, "done": EVENTS, "dead": 0}
    return handled


def test_sigkill_between_accept_and_handling_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "inbox.sqlite3"
    with receiver_process(path) as (proc, url):  # accepts, handles nothing
        post_all(url)
        kill(proc)
    handled = recover(path)
    assert [e.id for e in handled] == [f"evt_{n}" for n in range(1, EVENTS + 1)]
    assert [e.data for e in handled] == [{"id": n} for n in range(1, EVENTS + 1)]


def test_sigkill_during_a_handler_loses_nothing_and_repeats_only_that_event(
    tmp_path: Path,
) -> None:
    path, log = tmp_path / "inbox.sqlite3", tmp_path / "handled.log"
    log.touch()
    args = ("--work", "--log", str(log), "--hang-on", "evt_10")
    with receiver_process(path, *args) as (proc, url):
        post_all(url)
        wait_for("the handler to hang", lambda: "start evt_10 1" in log.read_text().splitlines())
        kill(proc)
    before = log.read_text().splitlines()
    assert [line for line in before if line.startswith("done")] == [
        f"done evt_{n}" for n in range(1, 10)
    ]
    handled = recover(path)
    # The event in flight runs again (its second attempt); the ones done do not.
    assert [(e.id, e.attempt) for e in handled] == [("evt_10", 2)] + [
        (f"evt_{n}", 1) for n in range(11, EVENTS + 1)
    ]
