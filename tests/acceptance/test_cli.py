"""The ``tidings`` command as a user runs it: a real server process and real CLI processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.conftest import PG_ADMIN_URL
from tests.helpers import free_port
from tidings import __version__

pytestmark = pytest.mark.acceptance

TIDINGS = str(Path(sys.executable).with_name("tidings"))
KEY = "acceptance-key"


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "TIDINGS_DATABASE_URL": database_url, "TIDINGS_API_KEY": KEY}
    proc = subprocess.Popen(
        [TIDINGS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def _wait_until_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tidings serve exited early"
        try:
            httpx.get(f"{url}/api/mailboxes", headers={"X-FreeScout-API-Key": KEY}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("tidings serve did not start within 30 s")


def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-FreeScout-API-Key": KEY}, timeout=10)


def _seed(url: str, count: int) -> list[int]:
    with _api(url) as api:
        api.post("/api/users", json={"firstName": "Ada", "lastName": "A", "email": "a@e.io"})
        mailbox = api.post("/api/mailboxes", json={"name": "S", "email": "s@e.io"}).json()["id"]
        return [
            api.post(
                "/api/conversations",
                json={
                    "type": "email",
                    "mailboxId": mailbox,
                    "subject": f"Q{i}",
                    "customer": {"email": f"c{i}@e.io"},
                    "threads": [{"type": "customer", "text": "hi"}],
                },
            ).json()["id"]
            for i in range(count)
        ]


def _cli(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIDINGS, "conversations", "bulk", *args, "--url", url, "--api-key", KEY],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _types(url: str) -> list[str]:
    with _api(url) as api:
        return [e["type"] for e in api.get("/api/events?limit=1000").json()["_embedded"]["events"]]


def test_bulk_delete_then_delete_forever_from_the_command_line(server: str) -> None:
    ids = _seed(server, 5)
    ids_arg = ",".join(map(str, ids))

    done = _cli(server, "delete", "--ids", ids_arg, "--by-user", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 succeeded, 0 failed" in done.stdout
    assert _types(server).count("convo.deleted") == 5

    refused = _cli(server, "delete_forever", "--ids", ids_arg, stdin="n\n")
    assert refused.returncode == 1
    assert "convo.deleted_forever" not in _types(server)

    forever = _cli(server, "delete_forever", "--ids", ids_arg, "--yes")
    assert forever.returncode == 0, forever.stdout + forever.stderr
    types = _types(server)
    assert types.count("convo.deleted_forever") == 5
    assert types[-1] == "operation.completed"


def test_help_explains_every_command() -> None:
    out = subprocess.run([TIDINGS, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "worker", "migrate", "demo", "api-key", "conversations"):
        assert command in out


# --- errors for people ----------------------------------------------------------------


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TIDINGS, *args], capture_output=True, text=True, timeout=60, env=env, stdin=None
    )


def _one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The only line on stderr, with the exit code ``code`` and no traceback anywhere."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_version() -> None:
    done = _run("--version")
    assert done.returncode == 0
    assert done.stdout == f"tidings {__version__}\n"


# What the client commands say does not depend on the server's database: SQLite only.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_client_errors_are_one_line_with_what_to_do(server: str) -> None:
    [convo] = _seed(server, 1)
    nowhere = f"http://127.0.0.1:{free_port()}"
    line = _one_error_line(_cli(nowhere, "delete", "--ids", str(convo)))
    assert line.startswith(f"error: cannot reach the Tidings server at {nowhere}")
    assert "is `tidings serve` running there?" in line

    wrong = subprocess.run(
        [TIDINGS, "conversations", "bulk", "delete", "--ids", "1", "--url", server],
        capture_output=True,
        text=True,
        env={**os.environ, "TIDINGS_API_KEY": "wrong"},
    )
    line = _one_error_line(wrong)
    assert line.startswith("error: 401 Not Authorized (POST /api/operations): the API key")
    assert "--api-key or TIDINGS_API_KEY" in line

    env = {k: v for k, v in os.environ.items() if k != "TIDINGS_API_KEY"}
    missing = _run("conversations", "bulk", "delete", "--ids", "1", "--url", server, env=env)
    assert "no API key; give it with --api-key or TIDINGS_API_KEY" in _one_error_line(missing)

    # A usage error: click's exit code 2, with the value and an example, no traceback.
    bad = _cli(server, "delete", "--ids", "1,two")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stdout + bad.stderr
    assert "'two' is not a conversation id" in " ".join(bad.stderr.split())
    assert _types(server).count("convo.deleted") == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_dry_run_of_every_action_changes_nothing(server: str) -> None:
    ids = _seed(server, 3)
    ids_arg = ",".join(map(str, ids))
    with _api(server) as api:
        box = api.get("/api/mailboxes").json()["_embedded"]["mailboxes"][0]["id"]
        before = api.get("/api/events?limit=1000").json()
    runs = {
        "delete": ["--ids", ids_arg],
        "restore": ["--ids", ids_arg],
        "delete_forever": ["--ids", ids_arg],
        "empty_trash": ["--mailbox", str(box)],
        "status": ["--ids", ids_arg, "--param", "status=closed", "--by-user", "1"],
        "assign": ["--mailbox", str(box), "--param", "user=1", "--by-user", "1"],
        "move": ["--ids", ids_arg, "--param", f"mailboxId={box}", "--by-user", "1"],
        "tag": ["--ids", ids_arg, "--param", "tags=vip"],
    }
    for action, args in runs.items():
        done = _cli(server, action, *args, "--dry-run")
        assert done.returncode == 0, (action, done.stdout + done.stderr)
        selected = 0 if action == "empty_trash" else 3  # nothing is in the trash
        assert done.stdout == (
            f"{action}: {selected} conversation(s) selected.\nDry run: nothing was changed.\n"
        )
    with _api(server) as api:
        assert api.get("/api/events?limit=1000").json() == before
        assert api.get("/api/operations").json()["page"]["totalElements"] == 0


def test_a_bulk_run_says_which_conversations_failed_and_why(server: str) -> None:
    ids = _seed(server, 3)
    assert _cli(server, "delete", "--ids", str(ids[0])).returncode == 0

    done = _cli(server, "delete", "--ids", f"{ids[0]},{ids[1]},999999,{ids[2]},999998")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-3].endswith(" completed: 3 succeeded, 2 failed")
    assert lines[-2:] == [
        "2 missing (they no longer existed): 999999, 999998",
        f"1 unchanged (already as asked, or no longer selected): {ids[0]}",
    ]
    assert _types(server).count("convo.deleted") == 3


def test_settings_and_unexpected_errors_are_one_line_unless_debug(tmp_path: Path) -> None:
    env = {**os.environ, "TIDINGS_PORT": "eighty"}
    line = _one_error_line(_run("serve", env=env))
    assert line.startswith("error: TIDINGS_PORT='eighty': Input should be a valid integer")

    env = {**os.environ, "TIDINGS_DATABASE_URL": "mysql://tidings:pw@db/tidings"}
    assert _one_error_line(_run("migrate", env=env)) == (
        "error: TIDINGS_DATABASE_URL mysql://tidings:***@db/tidings is not a database URL"
        " Tidings can use (Tidings runs on SQLite or PostgreSQL, not mysql): e.g."
        " sqlite:///./tidings.db or postgresql://tidings:PASSWORD@HOST/tidings"
    )

    # What nobody foresaw: the exception in one line, its traceback with --debug.
    (tmp_path / "tidings.db").write_text("not a database")
    env = {**os.environ, "TIDINGS_DATABASE_URL": f"sqlite:///{tmp_path}/tidings.db"}
    assert _one_error_line(_run("migrate", env=env)) == (
        "error: DatabaseError: (sqlite3.DatabaseError) file is not a database (unexpected;"
        " `tidings --debug ...` shows the traceback)"
    )
    debug = _run("--debug", "migrate", env=env)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "file is not a database" in debug.stderr


def test_a_missing_database_is_one_line(tmp_path: Path) -> None:
    """Each server command opens the database the same way: one of them per case."""
    folder = tmp_path / "no" / "such"
    cases = [
        (
            "serve",
            f"sqlite:///{folder}/tidings.db",
            f"error: cannot create the SQLite database {folder}/tidings.db: the directory"
            f" {folder} does not exist; create it (`mkdir -p {folder}`)",
        ),
        (
            "worker",
            f"postgresql://tidings:pw@127.0.0.1:{free_port()}/tidings",
            "error: cannot connect to PostgreSQL at 127.0.0.1:",
        ),
    ]
    if PG_ADMIN_URL:
        admin = make_url(PG_ADMIN_URL)
        url = admin.set(database="tidings_nowhere", password="pw")
        cases.append(
            (
                "migrate",
                url.render_as_string(hide_password=False),
                'error: PostgreSQL database "tidings_nowhere" does not exist on'
                f" {admin.host}:{admin.port}: create it with `createdb -h {admin.host}"
                f" -p {admin.port} -O {admin.username} tidings_nowhere`",
            )
        )
    for command, url, expected in cases:
        env = {**os.environ, "TIDINGS_DATABASE_URL": url, "TIDINGS_PORT": str(free_port())}
        line = _one_error_line(_run(command, env=env))
        assert line.startswith(expected), line
        assert ":pw@" not in line
