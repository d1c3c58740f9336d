"""What the server commands (``serve``, ``worker``, ``migrate``, ...) share: the database
URL with its password masked, one line for a database that cannot be opened or a port
that cannot be bound, the log, a graceful stop on SIGTERM, and the "listening" banner
once the port is bound.

Imported only by those commands: it brings SQLAlchemy and uvicorn, which the client
commands do without.
"""

from __future__ import annotations

import errno
import logging
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import uvicorn
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from tidings.api import stream
from tidings.cli_support import fail, without_passwords
from tidings.config import normalize_database_url

URL_HINT = "check TIDINGS_DATABASE_URL (docs/configuration.md)"
BACKENDS = ("sqlite", "postgresql")


def masked_url(url: str) -> str:
    """``url`` as written, its password (in the user part or a ``password=`` parameter)
    replaced by ``***``: ``postgresql://tidings:***@db/tidings``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, tail = re.match(r"([^/?#]*)(.*)", rest, re.DOTALL).groups()  # type: ignore[union-attr]
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    tail = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", tail)
    return f"{scheme}://{netloc}{tail}"


@contextmanager
def opening_database(url: str) -> Iterator[None]:
    """Turn a database that cannot be opened (a URL that names none, a database missing,
    unreachable, refused) into one line saying why and what to do, and exit 1."""
    if problem := url_problem(url):
        fail(problem)
    try:
        yield
    except OperationalError as exc:
        if exc.statement:  # not opening a connection: a statement failed
            raise
        fail(database_problem(url, str(exc.orig)))


def url_problem(url: str) -> str | None:
    """Why ``url`` names no database Tidings can open; None when it does."""
    try:
        parts = make_url(normalize_database_url(url))
        if parts.get_backend_name() not in BACKENDS:
            why = f"Tidings runs on SQLite or PostgreSQL, not {parts.get_backend_name()}"
        else:
            parts.get_dialect().import_dbapi()
            return None
    except (ArgumentError, ValueError, NoSuchModuleError, ImportError) as exc:
        why = without_passwords(_first_line(str(exc)))
    return (
        f"TIDINGS_DATABASE_URL {masked_url(url)} is not a database URL Tidings can use ({why}):"
        " e.g. sqlite:///./tidings.db or postgresql://tidings:PASSWORD@HOST/tidings"
    )


def database_problem(url: str, message: str) -> str:
    """One line for the driver's ``message`` on failing to open the database at ``url``."""
    parts = make_url(url)
    if parts.get_backend_name() == "sqlite":
        return _sqlite_problem(parts.database or "", message)
    host = parts.host or str(parts.query.get("host") or "localhost")
    where = f"{host}:{parts.port or 5432}"
    options = f"-h {host} -p {parts.port or 5432}"
    if found := re.search(r'database "(.+)" does not exist', message):
        owner = f" -O {parts.username}" if parts.username else ""
        return (
            f'PostgreSQL database "{found[1]}" does not exist on {where}: create it with'
            f" `createdb {options}{owner} {found[1]}`, then run this again"
        )
    if found := re.search(r'role "(.+)" does not exist', message):
        return (
            f'PostgreSQL on {where} has no role "{found[1]}": create it with'
            f" `createuser {options} --pwprompt {found[1]}` (as a superuser), or {URL_HINT}"
        )
    if "password authentication failed" in message or "no password supplied" in message:
        return f"PostgreSQL on {where} refused the user or password: {URL_HINT}"
    reason = _first_line(message.rsplit(" failed: ", 1)[-1])
    return (
        f"cannot connect to PostgreSQL at {where} ({reason}): is it running, and is"
        " TIDINGS_DATABASE_URL right (docs/configuration.md)?"
    )


def _sqlite_problem(path: str, message: str) -> str:
    folder = Path(path).parent
    if path and not folder.is_dir():
        return (
            f"cannot create the SQLite database {path}: the directory {folder} does not"
            f" exist; create it (`mkdir -p {folder}`) or {URL_HINT}"
        )
    return (
        f"cannot open the SQLite database {path} ({_first_line(message)}): check that this"
        f" user may write to it and to {folder}, or {URL_HINT}"
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to listen on; a port in use (or any
    other refusal) is one line and exit 1, before the database is even opened."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn binds: a restarted server need not wait for TIME_WAIT to end.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(bind_problem(host, port, exc))
    sock.set_inheritable(True)
    return sock


def bind_problem(host: str, port: int, exc: OSError, option: str = "--port or TIDINGS_PORT") -> str:
    """One line for failing to listen on ``host:port``; ``option`` chooses another port."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is in use; stop what listens there, or"
            f" choose another port with {option}"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied; choose a port above 1023 ({option})"
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"cannot listen on {where}: {host} is not an address of this machine (--host)"
    return f"cannot listen on {where}: {exc.strerror or exc}"


class StopSignal:
    """Takes SIGTERM and SIGINT (Ctrl-C): they ask the process to stop, which then ends
    its work (the chunk in flight, the leases) and exits 0, instead of dying on the spot.
    A second one ends the process at once. Made in the main thread."""

    def __init__(self) -> None:
        self.received: int | None = None
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._receive)

    def _receive(self, number: int, _frame: FrameType | None) -> None:
        # Only a plain assignment: a lock taken in a signal handler can deadlock with the
        # main thread that holds it.
        self.received = number
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, signal.SIG_DFL)

    def wait(self) -> None:
        """Until a signal arrives."""
        while self.received is None:
            time.sleep(0.1)


class AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling ``ready`` once it accepts connections (not before: a
    "listening" banner must not promise a port that is not open yet)."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # An event stream never ends by itself, and uvicorn waits for every open response
        # before it stops: end the streams, and their clients reconnect elsewhere.
        stream.close_all()
        super().handle_exit(sig, frame)


def log_to_stderr() -> None:
    """Tidings' own log (``tidings.*``) at INFO on stderr, one line a record: what an
    operator reads. uvicorn keeps its own handlers."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tidings")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
