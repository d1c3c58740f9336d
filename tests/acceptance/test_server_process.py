"""``tidings serve`` and ``tidings worker`` as an operator sees them: the banners, the log,
a port in use, SIGTERM."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.acceptance.processes import (
    api,
    environment,
    running,
    terminate,
    wait_for_line,
    wait_until_up,
)
from tests.helpers import free_port

pytestmark = pytest.mark.acceptance

PASSWORD = "s3cret-Pa55"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_banners_mask_the_password_and_come_once_the_port_is_bound(
    database_url: str, tmp_path: Path
) -> None:
    # The test server trusts local connections, so any password is accepted.
    url = make_url(database_url).set(password=PASSWORD).render_as_string(hide_password=False)
    masked = url.replace(f":{PASSWORD}@", ":***@")
    port = free_port()
    env = environment(url)
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    with (
        running(["serve", "--port", str(port)], env, serve_log) as serve,
        running(["worker"], env, worker_log) as worker,
    ):
        banner = wait_for_line(serve_log, "listening", serve)
        # Printed once the port is bound: the very next request is answered.
        with api(f"http://127.0.0.1:{port}") as client:
            assert client.get("/api/mailboxes").status_code == 200
        assert banner == (
            f"Tidings is listening on http://127.0.0.1:{port}/api (database {masked})"
        )
        line = wait_for_line(worker_log, "running on", worker)
        assert line.endswith(f" running on {masked}")
        assert terminate(serve) == 0
        assert terminate(worker) == 0
    for log in (serve_log, worker_log):
        assert PASSWORD not in log.read_text()
        assert "Traceback" not in log.read_text()
    assert worker_log.read_text().splitlines()[-1] == "Worker stopped."


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_port_in_use_is_one_line(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = environment(database_url)
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    with running(["serve", "--port", str(port)], env, first) as serve:
        wait_until_up(f"http://127.0.0.1:{port}", serve, first)
        started = time.monotonic()
        with running(["serve", "--port", str(port)], env, second) as again:
            assert again.wait(30) == 1
        assert second.read_text().splitlines() == [
            f"error: cannot listen on 127.0.0.1:{port}: the port is in use; stop what listens"
            " there, or choose another port with --port or TIDINGS_PORT"
        ]
        # Found before the database is opened and migrated: as soon as Python has started.
        assert time.monotonic() - started < 10
        assert terminate(serve) == 0
    assert "Traceback" not in first.read_text()


def _send_part_of_a_body(port: int, headers: bytes) -> None:
    """A POST that announces 1000 bytes of body, sends 13 and hangs up."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /api/users HTTP/1.1\r\nHost: tidings\r\nContent-Type: application/json\r\n"
            + headers
            + b'Content-Length: 1000\r\n\r\n{"firstName":'
        )
        time.sleep(0.2)  # the server is reading the body when the client goes


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_client_that_hangs_up_mid_body_is_one_info_line(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with running(["serve", "--port", str(port)], environment(database_url), log) as serve:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, serve, log)
        # With the key in a header the route reads the body; without it, the key is
        # looked for in the body.
        _send_part_of_a_body(port, b"X-FreeScout-API-Key: acceptance-key\r\n")
        _send_part_of_a_body(port, b"")
        with api(url) as client:  # still serving
            assert client.get("/api/users").json()["_embedded"]["users"] == []
        assert terminate(serve) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert "ERROR" not in text
    gone = [line for line in text.splitlines() if "client went away" in line]
    assert len(gone) == 2, text
    for line in gone:
        assert line.endswith(
            " INFO tidings.api: client went away after 13 of 1000 body bytes: POST /api/users"
        )
