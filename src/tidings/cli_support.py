"""What the ``tidings`` client commands share: the console, the progress bar, the API call.

Kept apart from ``tidings.cli`` so command groups in their own modules
(``tidings.webhook_cli``) can use it while ``tidings.cli`` imports them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
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
        fail(f"cannot reach {api.base_url}: {exc.__class__.__name__}: {exc}")
    if response.status_code >= 400:
        fail(f"{describe_error(response)} ({method} {path})")
    return response.json() if response.content else None


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


def follow_operation(api: httpx.Client, op: dict[str, Any], label: str) -> dict[str, Any]:
    """Poll ``GET /api/operations/{id}`` under a progress bar until it stops running; the
    last state."""
    with bar(label, op["total"]) as (progress, task):
        while op["status"] in ("queued", "running"):
            time.sleep(0.3)
            op = request(api, "GET", f"/api/operations/{op['id']}")
            progress.update(task, completed=op["processed"], total=op["total"])
    return op
