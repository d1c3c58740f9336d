"""``tidings listen`` as a developer runs it: a real ``tidings serve``, a real ``tidings
listen`` process, and a real receiver (tests/receiver.py) or command it hands events to.

``listen`` is a client of the API: what the server stores it in does not matter to it, so
one SQLite server serves the module; each test makes its own ``listen`` (its own webhook).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from tests.acceptance.processes import (
    TIDINGS,
    api,
    environment,
    running,
    terminate,
    wait_for,
    wait_for_line,
    wait_until_up,
)
from tests.helpers import free_port
from tests.receiver import Receiver, running_receiver

pytestmark = pytest.mark.acceptance

READY = re.compile(r"Listening on (http://127\.0\.0\.1:\d+/) for .* \(webhook (\d+)\)\.")
SECRET = re.compile(r"Signing secret: (whsec_\S+)")


@pytest.fixture(scope="module")
def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    """The server's URL, and the environment a ``listen`` of it runs with."""
    path = tmp_path_factory.mktemp("listen") / "tidings.db"
    shutil.copy(sqlite_template, path)
    # Two quick attempts, so that a failed hand-on is retried within a second.
    env = environment(
        f"sqlite:///{path}", webhook_allowed_networks="127.0.0.1/32", retry_schedule="0,0.5"
    )
    url = f"http://127.0.0.1:{free_port()}"
    log = path.with_suffix(".log")
    with running(["serve", "--port", url.rsplit(":", 1)[1]], env, log) as proc:
        wait_until_up(url, proc, log)
        yield url, {**env, "TIDINGS_URL": url}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


class Listening:
    """A running ``tidings listen``: its process, its output, and what it announced."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log
        ready = READY.search(wait_for_line(log, "Listening on", proc))
        assert ready, log.read_text()
        self.url, self.webhook = ready[1], int(ready[2])
        secret = SECRET.search(wait_for_line(log, "Signing secret", proc))
        assert secret
        self.secret = secret[1]

    def lines(self, text: str, count: int = 1) -> list[str]:
        def found() -> list[str] | None:
            assert self.proc.poll() is None, self.log.read_text()
            hits = [line for line in self.log.read_text().splitlines() if text in line]
            return hits if len(hits) >= count else None

        got: list[str] = wait_for(f"{count} line(s) with {text!r}", found, timeout=30)
        return got


@pytest.fixture
def listen(server: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[Any]:
    """``listen(*args)`` starts ``tidings listen ARGS`` against the server; each is killed
    at the end unless the test stopped it."""
    started = count()
    with ExitStack() as stack:

        def start(*args: str) -> Listening:
            log = tmp_path / f"listen{next(started)}.log"
            return Listening(stack.enter_context(running(["listen", *args], server[1], log)), log)

        yield start


def _new_customer(url: str, email: str) -> dict[str, Any]:
    with api(url) as client:
        answer = client.post("/api/customers", json={"firstName": "Lis", "email": email})
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made


def _delivered(url: str, webhook_id: int) -> dict[str, Any]:
    """The webhook's one delivery, once the server has recorded it delivered."""

    def delivered() -> dict[str, Any] | None:
        with api(url) as client:
            path = f"/api/webhooks/{webhook_id}/deliveries"
            [found] = client.get(path).json()["_embedded"]["deliveries"]
        return found if found["status"] == "delivered" else None

    found: dict[str, Any] = wait_for("the delivery to be recorded", delivered)
    return found


def _webhook_status(url: str, webhook_id: int) -> int:
    with api(url) as client:
        return client.get(f"/api/webhooks/{webhook_id}").status_code


def test_forwards_the_exact_body_and_headers_once_then_deletes_its_webhook(
    server: tuple[str, dict[str, str]], receiver: Receiver, listen: Any
) -> None:
    url = server[0]
    listening = listen("--events", "customer.created", "--forward-to", receiver.url("/fwd"))
    assert _webhook_status(url, listening.webhook) == 200

    customer = _new_customer(url, "first@listen.example")
    [got] = receiver.wait_for("/fwd", 1)
    # The bytes Tidings signed, with its headers: the app under development verifies them
    # with the secret `listen` printed, as it would verify the server's own deliveries.
    assert Webhook(listening.secret).verify(got.body, got.headers) == orjson.loads(got.body)
    assert orjson.loads(got.body) == customer
    assert got.headers["X-FreeScout-Event"] == "customer.created"
    message_id = got.headers["webhook-id"]
    [line] = listening.lines(message_id)
    assert "customer.created" in line
    assert line.endswith("-> 200")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  customer\.created +seq 1 ", line)

    # The same delivery again (a redelivery keeps its webhook-id): not forwarded twice.
    assert _delivered(url, listening.webhook)["id"] == message_id
    with api(url) as client:
        again = client.post(
            f"/api/webhooks/{listening.webhook}/redeliver", json={"deliveryId": message_id}
        )
        assert again.status_code == 202, again.text
    listening.lines("duplicate: handled already")
    time.sleep(0.3)
    assert len(receiver.at("/fwd")) == 1

    assert terminate(listening.proc) == 0
    assert f"Deleted webhook {listening.webhook}." in listening.log.read_text()
    assert _webhook_status(url, listening.webhook) == 404


def test_a_failed_forward_is_answered_502_and_retried(
    server: tuple[str, dict[str, str]], receiver: Receiver, listen: Any
) -> None:
    receiver.script["/flaky"] = [500, 200]
    listening = listen("--events", "customer.created", "--forward-to", receiver.url("/flaky"))
    _new_customer(server[0], "flaky@listen.example")
    first, second = receiver.wait_for("/flaky", 2)
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    message_id = first.headers["webhook-id"]
    failed, delivered = listening.lines(message_id, 2)
    assert failed.endswith("-> 500")
    assert delivered.endswith("-> 200")
    delivery = _delivered(server[0], listening.webhook)
    assert [a["statusCode"] for a in delivery["attempts"]] == [502, 200]


def test_refuses_a_request_that_is_not_signed_with_its_secret(
    receiver: Receiver, listen: Any
) -> None:
    listening = listen("--forward-to", receiver.url("/never"))
    body = b'{"id": 1}'
    headers = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
        "X-FreeScout-Event": "customer.created",
    }
    answer = httpx.post(listening.url, content=body, headers=headers)
    assert answer.status_code == 401
    # Signed with the right secret, but captured long ago: a replay.
    old = int(time.time()) - 3600
    replay = Webhook(listening.secret).sign("msg_old", datetime.fromtimestamp(old, UTC), body)
    stale = {**headers, "webhook-id": "msg_old", "webhook-timestamp": str(old)}
    answer = httpx.post(listening.url, content=body, headers={**stale, "webhook-signature": replay})
    assert answer.status_code == 401
    listening.lines("rejected (401): no signature matches")
    listening.lines("rejected (401): webhook-timestamp is more than 5 minutes away")
    assert receiver.at("/never") == []


def test_exec_runs_the_command_with_the_body_on_stdin(
    server: tuple[str, dict[str, str]], listen: Any, tmp_path: Path
) -> None:
    out = tmp_path / "events"
    script = (
        "import os, sys; "
        f"open({str(out)!r} + '.' + os.environ['TIDINGS_SEQUENCE'], 'wb').write("
        "os.environ['TIDINGS_EVENT_TYPE'].encode() + b' ' "
        "+ os.environ['TIDINGS_DELIVERY_ID'].encode() + b'\\n' + sys.stdin.buffer.read())"
    )
    command = f"{sys.executable} -c {shlex.quote(script)}"
    secret_file = tmp_path / "secret"
    listening = listen(
        "--events", "customer.created", "--exec", command, "--secret-file", str(secret_file)
    )
    assert secret_file.read_text() == listening.secret + "\n"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    customer = _new_customer(server[0], "exec@listen.example")
    first = out.with_name("events.1")
    wait_for("the command's file", first.exists)
    head, body = wait_for("the whole file", lambda: _complete(first))
    event_type, message_id = head.split()
    assert event_type == "customer.created"
    assert orjson.loads(body) == customer
    [line] = listening.lines(message_id)
    assert line.endswith("-> exit 0")
    assert terminate(listening.proc) == 0
    assert _webhook_status(server[0], listening.webhook) == 404


def _complete(path: Path) -> tuple[str, bytes] | None:
    head, _, body = path.read_bytes().partition(b"\n")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return head.decode(), body


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--forward-to", "http://127.0.0.1:9/", "--exec", "cat"],
        ["--exec", "cat", "--events", " , "],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = subprocess.run([TIDINGS, "listen", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [TIDINGS, "listen", "--api-url", nobody, "--api-key", "k", "--exec", "cat"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot reach the Tidings server at {nobody} (connection refused): is"
        " `tidings serve` running there? Another server: --url or TIDINGS_URL"
    ]


def test_a_wrong_key_is_one_line(server: tuple[str, dict[str, str]]) -> None:
    before = _webhooks(server[0])
    done = subprocess.run(
        [TIDINGS, "listen", "--api-key", "wrong", "--exec", "cat"],
        env=server[1],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: 401 Not Authorized (POST /api/webhooks): the API key is wrong; give it with"
        " --api-key or TIDINGS_API_KEY (`tidings api-key` prints it on the server)"
    ]
    assert _webhooks(server[0]) == before


def test_a_server_that_refuses_loopback_says_how_to_allow_it(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    env = {k: v for k, v in server[1].items() if k != "TIDINGS_WEBHOOK_ALLOWED_NETWORKS"}
    strict = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "strict.log"
    with running(["serve", "--port", strict.rsplit(":", 1)[1]], env, log) as proc:
        wait_until_up(strict, proc, log)
        before = _webhooks(strict)
        done = subprocess.run(
            [TIDINGS, "listen", "--api-url", strict, "--exec", "cat"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert _webhooks(strict) == before
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the server refuses to deliver to 127.0.0.1, where `tidings listen` receives:"
        " start it with TIDINGS_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32"
        " (docs/cli.md#tidings-listen)"
    ]


def _webhooks(url: str) -> list[int]:
    with api(url) as client:
        found = client.get("/api/webhooks", params={"pageSize": 500}).json()
    return [w["id"] for w in found["_embedded"]["webhooks"]]
