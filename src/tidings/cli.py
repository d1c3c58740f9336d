"""The ``tidings`` command."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import typer

from tidings.cli_support import bar as _bar
from tidings.cli_support import console
from tidings.clock import system_clock
from tidings.config import Settings
from tidings.webhook_cli import webhooks_app

if TYPE_CHECKING:
    from tidings.db.engine import Database

app = typer.Typer(
    help="Tidings: a FreeScout-compatible help desk whose events tell the truth.",
    no_args_is_help=True,
)
conversations_app = typer.Typer(help="Work on conversations through the API.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(webhooks_app, name="webhooks")


@app.command()
def serve(
    host: str = typer.Option(
        None, help="Address to listen on (default 127.0.0.1, or TIDINGS_HOST)."
    ),
    port: int = typer.Option(None, help="Port to listen on (default 8080, or TIDINGS_PORT)."),
) -> None:
    """Run the API and the operation worker in one process (migrates the database first)."""
    import uvicorn

    from tidings.app import create_app

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    application = create_app(settings)
    key = application.state.ctx.api_key
    console.print(
        f"Tidings is listening on [bold]http://{host}:{port}/api[/]"
        f" (database {settings.database_url})"
    )
    console.print(
        f"API key: [bold]{key}[/]   e.g. curl -H 'X-FreeScout-API-Key: {key}' http://{host}:{port}/api/mailboxes"
    )
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command()
def worker(
    metrics_port: int | None = typer.Option(
        None, help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (no API key)."
    ),
) -> None:
    """Run only the operation worker (scale-out on PostgreSQL: run as many as you like)."""
    from tidings.app import build_context, dispatcher_thread
    from tidings.operations.runner import WorkerThread

    settings = Settings()
    ctx = build_context(settings)
    thread = WorkerThread(ctx.db, ctx.clock, settings)
    dispatcher = dispatcher_thread(ctx)
    console.print(f"Worker {thread.runner.owner} running on {settings.database_url}")
    if metrics_port:
        from prometheus_client import start_http_server

        from tidings.webhooks.metrics import registry

        # Loopback only, and no key: whoever can reach it is on this host.
        start_http_server(metrics_port, "127.0.0.1", registry(ctx.db, ctx.clock))
        console.print(f"Metrics at http://127.0.0.1:{metrics_port}/metrics")
    thread.start()
    if dispatcher:
        dispatcher.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        thread.stop()
        if dispatcher:
            dispatcher.stop()


@app.command()
def migrate() -> None:
    """Create the database or bring it to the latest schema."""
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade

    settings = Settings()
    db = Database(settings.database_url)
    upgrade(db)
    db.dispose()
    console.print(f"Database {settings.database_url} is at the latest schema.")


@app.command()
def demo(
    conversations: int = typer.Option(2000, help="How many conversations to create."),
) -> None:
    """Load demo data (3 mailboxes, 5 agents, 200 customers, conversations) into an empty DB."""
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade
    from tidings.demo import is_empty, load

    settings = Settings()
    db = Database(settings.database_url)
    upgrade(db)
    if not is_empty(db):
        console.print("The database already has data; demo data not loaded.")
        db.dispose()
        return
    with _bar("Loading demo conversations", conversations) as (progress, task):
        load(
            db,
            system_clock,
            conversations_total=conversations,
            progress=lambda n: progress.update(task, completed=n),
        )
    db.dispose()
    console.print(
        "Loaded demo data: 3 mailboxes, 5 agents (user 1 is the admin), 200 customers,"
        f" {conversations} conversations."
    )


@app.command("webhook-secret")
def webhook_secret_command() -> None:
    """Print the secret of X-FreeScout-Signature (TIDINGS_WEBHOOK_SECRET, or generated once)."""
    from tidings.keys import webhook_secret

    _print_stored(lambda db, settings: webhook_secret(db, settings.webhook_secret))


@app.command("api-key")
def api_key_command() -> None:
    """Print the API key (generated and stored on first use unless TIDINGS_API_KEY is set)."""
    from tidings.keys import api_key

    _print_stored(lambda db, settings: api_key(db, settings.api_key))


def _print_stored(value: Callable[[Database, Settings], str]) -> None:
    """Print ``value(db, settings)``, a key kept in the (migrated) database."""
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade

    settings = Settings()
    db = Database(settings.database_url)
    upgrade(db)
    typer.echo(value(db, settings))
    db.dispose()


@conversations_app.command("bulk")
def bulk(
    action: str = typer.Argument(
        ..., help="delete, restore, delete_forever, empty_trash, status, assign, move or tag"
    ),
    ids: str = typer.Option(None, help="Comma-separated conversation ids."),
    mailbox: int = typer.Option(None, help="Filter: mailbox id."),
    folder: int = typer.Option(None, help="Filter: folder id."),
    state: str = typer.Option(None, help="Filter: draft, published or deleted."),
    status: str = typer.Option(None, help="Filter: active, pending, closed or spam."),
    tag: str = typer.Option(None, help="Filter: tag name."),
    by_user: int = typer.Option(None, "--by-user", help="The acting user id."),
    param: list[str] = typer.Option(
        [], help="Action parameter as key=value (status=closed, user=3, mailboxId=2, tags=a,b)."
    ),
    atomic: bool = typer.Option(False, help="All or nothing, in one transaction."),
    timeout: int = typer.Option(None, help="Give up (timed_out) after this many seconds."),
    yes: bool = typer.Option(False, "--yes", help="Confirm destructive actions without asking."),
    url: str = typer.Option(
        "http://127.0.0.1:8080", envvar="TIDINGS_URL", help="The Tidings server."
    ),
    key: str = typer.Option(None, "--api-key", envvar="TIDINGS_API_KEY", help="The API key."),
) -> None:
    """Run a bulk operation through the API and follow it with a live progress bar."""
    body: dict[str, Any] = {"action": action, "atomic": atomic}
    if ids:
        body["conversationIds"] = [int(i) for i in ids.split(",") if i.strip()]
    else:
        found = {
            "mailboxId": mailbox,
            "folderId": folder,
            "state": state,
            "status": status,
            "tag": tag,
        }
        body["filter"] = {k: v for k, v in found.items() if v is not None}
    if by_user is not None:
        body["byUser"] = by_user
    if timeout is not None:
        body["timeoutSeconds"] = timeout
    body["params"] = _params(param)
    client = httpx.Client(base_url=url, headers={"X-FreeScout-API-Key": key or ""}, timeout=60)
    plan = _call(client, "POST", "/api/operations", {**body, "dryRun": True})
    console.print(f"{action}: {plan['total']} conversation(s) selected.")
    if "confirmToken" in plan:
        if not yes and not typer.confirm("This destroys them for good. Continue?"):
            raise typer.Exit(1)
        body["confirmToken"] = plan["confirmToken"]
    op = _call(client, "POST", "/api/operations", body)
    with _bar(f"{action} {op['id']}", op["total"]) as (progress, task):
        while op["status"] in ("queued", "running"):
            time.sleep(0.3)
            op = _call(client, "GET", f"/api/operations/{op['id']}", None)
            progress.update(task, completed=op["processed"])
    console.print(
        f"Operation {op['id']} {op['status']}: {op['succeeded']} succeeded, {op['failed']} failed"
        + (f", error: {op['error']}" if op.get("error") else "")
    )
    if op["status"] != "completed":
        raise typer.Exit(1)


def _params(pairs: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "tags":
            result[key] = [t for t in value.split(",") if t]
        elif value.isdigit():
            result[key] = int(value)
        else:
            result[key] = value
    return result


def _call(client: httpx.Client, method: str, path: str, body: Any) -> Any:
    response = client.request(method, path, json=body)
    if response.status_code >= 400:
        console.print(f"[red]{response.status_code}[/] {response.text}")
        raise typer.Exit(1)
    return response.json()


def main() -> None:
    app()
