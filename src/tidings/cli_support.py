"""What the ``tidings`` commands share: the console, one-line errors, the progress bar,
the API call.

Kept apart from ``tidings.cli`` so command groups in their own modules
(``tidings.webhook_cli``) can use it while ``tidings.cli`` imports them.

Errors are for people: one line on stderr saying what is wrong and what to do, exit 1 (2
for a usage error, as click does), and a traceback only with ``tidings --debug``.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

DEFAULT_URL = "http://127.0.0.1:8080"
URL_OPTION = typer.Option(DEFAULT_URL, envvar="TIDINGS_URL", help="The Tidings server.")
KEY_OPTION = typer.Option(None, "--api-key", envvar="TIDINGS_API_KEY", help="The API key.")
KEY_HINT = "give it with --api-key or TIDINGS_API_KEY (`tidings api-key` prints it on the server)"


@dataclass
class Options:
    """The global options (``tidings --debug COMMAND``), set before any command runs."""

    debug: bool = False


options = Options()


@contextmanager
def bar(label: str, total: int) -> Iterator[tuple[Progress, TaskID]]:
    """A live progress bar of ``total`` steps: ``(progress, task)`` to update."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        yield progress, progress.add_task(label, total=total)


def client(url: str, key: str | None) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-FreeScout-API-Key": key or ""}, timeout=60)


def request(
    api: httpx.Client,
    method: str,
    path: str,
    body: Any = None,
    params: dict[str, Any] | None = None,
) -> Any:
    """The answer's JSON (``None`` for an empty one); on an error status or an unreachable
    server, one line on stderr and exit 1."""
    try:
        response = api.request(method, path, json=body, params=params)
    except httpx.TransportError as exc:
        fail(unreachable(api, exc))
    if response.status_code >= 400:
        message = f"{describe_error(response)} ({method} {path})"
        if response.status_code == 401:
            given = api.headers.get("X-FreeScout-API-Key")
            message += f": {'the API key is wrong' if given else 'no API key'}; {KEY_HINT}"
        fail(message)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        url = str(api.base_url).rstrip("/")
        answer = f"{url} answered {method} {path} with something that is not JSON"
        fail(f"{answer}: is it a Tidings server? (--url or TIDINGS_URL)")


def unreachable(api: httpx.Client, exc: httpx.TransportError) -> str:
    """Why the server at ``api.base_url`` did not answer, and what to check."""
    url = str(api.base_url).rstrip("/")
    if isinstance(exc, httpx.ConnectError):
        return (
            f"cannot reach the Tidings server at {url} ({_reason(exc)}): is `tidings serve`"
            " running there? Another server: --url or TIDINGS_URL"
        )
    if isinstance(exc, httpx.TimeoutException):
        return f"cannot reach the Tidings server at {url}: no answer in time ({_reason(exc)})"
    return f"cannot reach the Tidings server at {url}: {_reason(exc)}"


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text or exc.__class__.__name__


def describe_error(response: httpx.Response) -> str:
    """``404 Not Found``, or FreeScout's error body as ``400 Error occurred: url: ...``."""
    try:
        body = response.json()
    except ValueError:
        body = response.text.strip()
    if not isinstance(body, dict):
        return f"{response.status_code} {body or response.reason_phrase}"
    fields = body.get("_embedded", {}).get("errors", [])
    details = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in fields)
    message = body.get("message") or response.reason_phrase
    return f"{response.status_code} {message}" + (f": {details}" if details else "")


def fail(message: str) -> NoReturn:
    """Print ``message`` as one error line on stderr and exit 1."""
    errors.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(1)


_PASSWORD_IN_URL = re.compile(r"(://[^/:@\s]*:)[^@\s/]*@")


def without_passwords(text: str) -> str:
    """``text`` with the password of any URL in it (``scheme://user:password@``) masked."""
    return _PASSWORD_IN_URL.sub(r"\1***@", text)


def run(command: Callable[[], Any]) -> None:
    """Run the ``tidings`` command: an unexpected error is one line on stderr and exit 1,
    with its traceback only under ``--debug``."""
    try:
        command()
    except Exception as exc:
        if options.debug:
            raise
        if settings := _settings_problem(exc):
            errors.print(f"[red]error:[/] {escape(settings)}")
            sys.exit(1)
        first = without_passwords(str(exc)).strip().splitlines()
        what = f"{exc.__class__.__name__}: {first[0]}" if first else exc.__class__.__name__
        errors.print(
            f"[red]error:[/] {escape(what)} (unexpected; `tidings --debug ...` shows the traceback)"
        )
        sys.exit(1)


def _settings_problem(exc: Exception) -> str | None:
    """One line for settings that do not validate (``TIDINGS_PORT=abc``)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    wrong = "; ".join(
        f"TIDINGS_{'_'.join(map(str, e['loc'])).upper()}={e['input']!r}: {e['msg']}"
        for e in exc.errors()
    )
    return f"{wrong} (docs/configuration.md)"


def follow_operation(api: httpx.Client, op: dict[str, Any], label: str) -> dict[str, Any]:
    """Poll ``GET /api/operations/{id}`` under a progress bar until it stops running; the
    last state."""
    with bar(label, op["total"]) as (progress, task):
        while op["status"] in ("queued", "running"):
            time.sleep(0.3)
            op = request(api, "GET", f"/api/operations/{op['id']}")
            progress.update(task, completed=op["processed"], total=op["total"])
    return op
