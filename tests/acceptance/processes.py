"""Real ``tidings`` processes for the acceptance tests: start, wait for, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TIDINGS = str(Path(sys.executable).with_name("tidings"))
KEY = "acceptance-key"


def environment(database_url: str, **settings: str) -> dict[str, str]:
    """This environment with the database, the API key and ``TIDINGS_<NAME>`` settings."""
    env = {**os.environ, "TIDINGS_DATABASE_URL": database_url, "TIDINGS_API_KEY": KEY}
    env.update({f"TIDINGS_{name.upper()}": value for name, value in settings.items()})
    return env


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``tidings ARGS`` with stdout and stderr in ``log``; killed at the end if it still
    runs (a test that means to stop it gracefully calls ``terminate`` itself)."""
    with log.open("ab") as out:
        proc = subprocess.Popen([TIDINGS, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 45) -> int:
    """SIGTERM, and the exit code once the process has stopped."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    def up() -> bool:
        assert proc.poll() is None, f"exited with {proc.returncode}: {log.read_text()}"
        try:
            httpx.get(f"{url}/api/mailboxes", headers={"X-FreeScout-API-Key": KEY}, timeout=1)
            return True
        except httpx.TransportError:
            return False

    wait_for("the server to answer", up)


def wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes]) -> str:
    """The first line of ``log`` that holds ``text``, once it is there."""

    def found() -> str | None:
        lines = [line for line in log.read_text().splitlines() if text in line]
        assert lines or proc.poll() is None, f"exited with {proc.returncode}: {log.read_text()}"
        return lines[0] if lines else None

    line: str = wait_for(f"{text!r} in {log.name}", found)
    return line


def api(url: str, key: str = KEY) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-FreeScout-API-Key": key}, timeout=30)
