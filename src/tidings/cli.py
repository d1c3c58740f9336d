"""The ``tidings`` command.

Server commands (``serve``, ``worker``, ``migrate``, ...) open the database themselves;
what they share is in ``tidings.cli_server``, imported only when one of them runs (it
brings SQLAlchemy and uvicorn, which the client commands do without).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from tidings import __version__
from tidings.cli_support import bar as _bar
from tidings.cli_support import console, fail, options, run
from tidings.clock import system_clock
from tidings.config import Settings
from tidings.conversation_cli import conversations_app
from tidings.listen_cli import listen
from tidings.webhook_cli import webhooks_app

if TYPE_CHECKING:
    from tidings.db.engine import Database

app = typer.Typer(
    help="Tidings: a FreeScout-compatible help desk whose events tell the truth.",
    no_args_is_help=True,
    # A traceback's locals would print the settings: the API key, the database password.
    pretty_exceptions_show_locals=False,
)
app.add_typer(conversations_app, name="conversations")
app.add_typer(webhooks_app, name="webhooks")
app.command()(listen)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tidings {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of an unexpected error, not one line."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    options.debug = debug


@app.command()
def serve(
    host: str = typer.Option(
        None, help="Address to listen on (default 127.0.0.1, or TIDINGS_HOST)."
    ),
    port: int = typer.Option(None, help="Port to listen on (default 8080, or TIDINGS_PORT)."),
) -> None:
    """Run the API and the operation worker in one process (migrates the database first)."""
    import uvicorn

    from tidings import cli_server as server
    from tidings.app import create_app

    settings = Settings()
    host = host or settings.host
    port = settings.port if port is None else port
    server.log_to_stderr()
    stop = server.StopSignal()
    # Bound before the database is opened, so that a port in use is found at once.
    sock = server.listening_socket(host, port)
    with server.opening_database(settings.database_url):
        application = create_app(settings)
    if stop.received:
        return
    bracketed = f"[{host}]" if ":" in host else host  # an IPv6 address
    address = f"http://{bracketed}:{sock.getsockname()[1]}"
    key = escape(application.state.ctx.api_key)

    def announce() -> None:
        url = escape(server.masked_url(settings.database_url))
        console.print(f"Tidings is listening on [bold]{address}/api[/] (database {url})")
        console.print(
            f"API key: [bold]{key}[/]   e.g. curl -H 'X-FreeScout-API-Key: {key}'"
            f" {address}/api/mailboxes"
        )

    # On SIGTERM or SIGINT uvicorn stops gracefully (the lifespan stops the workers: the
    # chunk in flight ends, the lease is given up), then raises the signal again, which
    # ``stop`` takes: the command returns and exits 0.
    config = uvicorn.Config(application, log_level="warning")
    server.AnnouncingServer(config, announce).run(sockets=[sock])


@app.command()
def worker(
    metrics_port: int | None = typer.Option(
        None, help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (no API key)."
    ),
) -> None:
    """Run only the operation worker (scale-out on PostgreSQL: run as many as you like)."""
    from tidings import cli_server as server
    from tidings.app import build_context, dispatcher_thread
    from tidings.operations.runner import WorkerThread

    settings = Settings()
    server.log_to_stderr()
    stop = server.StopSignal()
    with server.opening_database(settings.database_url):
        ctx = build_context(settings)
    thread = WorkerThread(ctx.db, ctx.clock, settings)
    dispatcher = dispatcher_thread(ctx)
    url = server.masked_url(settings.database_url)
    console.print(f"Worker {thread.runner.owner} running on {url}", markup=False)
    if metrics_port:
        from prometheus_client import start_http_server

        from tidings.operations.model import OperationStatus
        from tidings.webhooks.metrics import registry

        # Loopback only, and no key: whoever can reach it is on this host.
        try:
            start_http_server(
                metrics_port,
                "127.0.0.1",
                registry(ctx.db, ctx.clock, [s.value for s in OperationStatus]),
            )
        except OSError as exc:
            fail(server.bind_problem("127.0.0.1", metrics_port, exc, "--metrics-port"))
        console.print(f"Metrics at http://127.0.0.1:{metrics_port}/metrics")
    thread.start()
    if dispatcher:
        dispatcher.start()
    stop.wait()
    console.print("Stopping: the chunk in flight ends and its operation is given back.")
    thread.stop()
    if dispatcher:
        dispatcher.stop()
    ctx.db.dispose()
    console.print("Worker stopped.")


@app.command()
def migrate() -> None:
    """Create the database or bring it to the latest schema."""
    from tidings import cli_server as server
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade

    settings = Settings()
    with server.opening_database(settings.database_url):
        db = Database(settings.database_url, mmap_mb=settings.sqlite_mmap_mb)
        upgrade(db)
    db.dispose()
    url = server.masked_url(settings.database_url)
    console.print(f"Database {url} is at the latest schema.", markup=False)


@app.command()
def demo(
    conversations: int = typer.Option(2000, help="How many conversations to create."),
) -> None:
    """Load demo data (3 mailboxes, 5 agents, 200 customers, conversations) into an empty DB."""
    from tidings import cli_server as server
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade
    from tidings.demo import is_empty, load

    settings = Settings()
    with server.opening_database(settings.database_url):
        db = Database(settings.database_url, mmap_mb=settings.sqlite_mmap_mb)
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
    from tidings import cli_server as server
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade

    settings = Settings()
    with server.opening_database(settings.database_url):
        db = Database(settings.database_url, mmap_mb=settings.sqlite_mmap_mb)
        upgrade(db)
    typer.echo(value(db, settings))
    db.dispose()


def main() -> None:
    run(app)
