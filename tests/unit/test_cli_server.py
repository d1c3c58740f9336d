"""The server commands' words: a masked database URL, one line per database problem."""

from __future__ import annotations

import errno

import pytest

from tidings.cli_server import bind_problem, database_problem, masked_url, url_problem
from tidings.cli_support import without_passwords


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://tidings:s3cret@db:5432/tidings", "postgresql://tidings:***@db:5432/tidings"),
        ("postgres://tidings:p%40ss@db/tidings", "postgres://tidings:***@db/tidings"),
        # An unescaped @ in the password: the host starts after the last one.
        ("postgresql://tidings:a@b@db/x", "postgresql://tidings:***@db/x"),
        ("postgresql://tidings@db/x?password=pw&sslmode=require",
         "postgresql://tidings@db/x?password=***&sslmode=require"),
        ("postgresql://tidings@db/tidings", "postgresql://tidings@db/tidings"),
        ("postgresql:///tidings?host=/run/postgresql", "postgresql:///tidings?host=/run/postgresql"),
        ("sqlite:///./tidings.db", "sqlite:///./tidings.db"),
        ("sqlite:////var/lib/tidings/a:b@c.db", "sqlite:////var/lib/tidings/a:b@c.db"),
        ("not a url", "not a url"),
    ],
)  # fmt: skip
def test_masked_url_hides_the_password_and_keeps_the_rest(url: str, masked: str) -> None:
    assert masked_url(url) == masked


PG = "postgresql://tidings:Secret9@db.example:6543/helpdesk"


@pytest.mark.parametrize(
    ("url", "message", "line"),
    [
        (
            PG,
            'connection failed: connection to server at "10.0.0.5", port 6543 failed: FATAL:  '
            'database "helpdesk" does not exist',
            'PostgreSQL database "helpdesk" does not exist on db.example:6543: create it with'
            " `createdb -h db.example -p 6543 -O tidings helpdesk`, then run this again",
        ),
        (
            PG,
            'connection failed: connection to server at "10.0.0.5", port 6543 failed: FATAL:  '
            'role "tidings" does not exist',
            'PostgreSQL on db.example:6543 has no role "tidings": create it with `createuser'
            " -h db.example -p 6543 --pwprompt tidings` (as a superuser), or check"
            " TIDINGS_DATABASE_URL (docs/configuration.md)",
        ),
        (
            PG,
            'connection failed: connection to server at "10.0.0.5", port 6543 failed: FATAL:  '
            'password authentication failed for user "tidings"',
            "PostgreSQL on db.example:6543 refused the user or password: check"
            " TIDINGS_DATABASE_URL (docs/configuration.md)",
        ),
        (
            PG,
            'connection failed: connection to server at "10.0.0.5", port 6543 failed: Connection'
            " refused\n\tIs the server running on that host and accepting TCP/IP connections?",
            "cannot connect to PostgreSQL at db.example:6543 (Connection refused): is it running,"
            " and is TIDINGS_DATABASE_URL right (docs/configuration.md)?",
        ),
        (
            "postgresql:///helpdesk?host=/run/postgresql",
            "connection failed: No such file or directory",
            "cannot connect to PostgreSQL at /run/postgresql:5432 (No such file or directory):"
            " is it running, and is TIDINGS_DATABASE_URL right (docs/configuration.md)?",
        ),
        (
            "sqlite:////nowhere/at/all/tidings.db",
            "unable to open database file",
            "cannot create the SQLite database /nowhere/at/all/tidings.db: the directory"
            " /nowhere/at/all does not exist; create it (`mkdir -p /nowhere/at/all`) or check"
            " TIDINGS_DATABASE_URL (docs/configuration.md)",
        ),
    ],
)
def test_each_database_problem_is_one_line_with_what_to_do(
    url: str, message: str, line: str
) -> None:
    assert database_problem(url, message) == line
    assert "Secret9" not in line


def test_a_port_problem_names_the_option_that_moves_it() -> None:
    in_use = OSError(errno.EADDRINUSE, "Address already in use")
    assert bind_problem("127.0.0.1", 8080, in_use) == (
        "cannot listen on 127.0.0.1:8080: the port is in use; stop what listens there, or"
        " choose another port with --port or TIDINGS_PORT"
    )
    denied = OSError(errno.EACCES, "Permission denied")
    assert bind_problem("127.0.0.1", 80, denied, "--metrics-port").endswith(
        "permission denied; choose a port above 1023 (--metrics-port)"
    )


@pytest.mark.parametrize(
    "url", ["sqlite:///./tidings.db", "sqlite://", "postgresql://t:pw@db/t", "postgres://db/t"]
)
def test_a_usable_url_has_no_problem(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql://t:Secret9@db/t", "Tidings runs on SQLite or PostgreSQL, not mysql"),
        ("postgresql://t:Secret9@db:fivefourthreetwo/t", "invalid literal for int()"),
        ("postgresql+nosuch://t:Secret9@db/t", "Can't load plugin"),
        ("tidings.db", "Could not parse SQLAlchemy URL"),
    ],
)
def test_a_url_that_names_no_usable_database_says_so(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None
    assert problem.startswith(f"TIDINGS_DATABASE_URL {masked_url(url)} is not a database URL")
    assert why in problem
    assert "Secret9" not in problem


def test_passwords_in_any_url_of_a_message_are_masked() -> None:
    text = "failed: postgresql://ada:Secret9@db/x and http://bo:Pa55@h:1/y, not ftp://h/z"
    assert without_passwords(text) == (
        "failed: postgresql://ada:***@db/x and http://bo:***@h:1/y, not ftp://h/z"
    )
