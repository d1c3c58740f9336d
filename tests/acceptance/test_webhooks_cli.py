"""``tidings webhooks`` as a user runs it: real CLI processes against one real ``tidings
serve`` per backend, delivering to a real receiver on 127.0.0.1.

The server is shared by the module's tests (one start per backend keeps them fast), so
each test makes its own webhook, with its own receiver path, and asserts only on those.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from tests.acceptance.processes import KEY, TIDINGS, environment, running, wait_until_up
from tests.conftest import BACKENDS, fresh_database
from tests.helpers import free_port
from tests.receiver import Received, Receiver, running_receiver

pytestmark = pytest.mark.acceptance

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
# Two quick attempts, so a failing delivery is `failed` within about a second.
RETRY_SCHEDULE = "0,0.5"
_emails = count()


@pytest.fixture(scope="module", params=BACKENDS)
def server_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh migrated database for the module's server (the ``database_url`` fixture
    is per test; this one lives as long as the server)."""
    with fresh_database(request.param, request, tmp_path_factory.mktemp("webhooks-cli")) as url:
        yield url


@pytest.fixture(scope="module")
def receiver(server_database: str) -> Iterator[Receiver]:
    """The receiver of one backend's server: asking for ``server_database`` makes a fresh
    one per backend, so no path gets the other server's deliveries."""
    with running_receiver() as found:
        yield found


@pytest.fixture(scope="module")
def server(
    server_database: str, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    env = environment(
        server_database, webhook_allowed_networks="127.0.0.0/8", retry_schedule=RETRY_SCHEDULE
    )
    log = tmp_path_factory.mktemp("webhooks-cli-server") / "serve.log"
    with running(["serve", "--port", str(port)], env, log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc, log)
        yield url


def _cli(
    url: str, *args: str, key: str = KEY, columns: int = 80
) -> subprocess.CompletedProcess[str]:
    # The server and key come from the environment, as a user would set them once.
    env = {**os.environ, "TIDINGS_URL": url, "TIDINGS_API_KEY": key, "COLUMNS": str(columns)}
    return subprocess.run(
        [TIDINGS, "webhooks", *args], env=env, capture_output=True, text=True, timeout=60
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _api(url: str) -> httpx.Client:
    return httpx.Client(base_url=f"{url}/api", headers={"X-FreeScout-API-Key": KEY}, timeout=10)


def _webhook(url: str, target: str, events: list[str] | None = None) -> dict[str, Any]:
    with _api(url) as api:
        made = api.post("/webhooks", json={"url": target, "events": events or ["customer.created"]})
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def _get(url: str, path: str, **params: Any) -> Any:
    with _api(url) as api:
        answer = api.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _customer(url: str) -> None:
    """One ``customer.created`` event."""
    with _api(url) as api:
        made = api.post(
            "/customers", json={"firstName": "Cli", "email": f"cli{next(_emails)}@example.com"}
        )
    assert made.status_code == 201, made.text


def _deliveries(url: str, webhook_id: int, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _get(url, f"/webhooks/{webhook_id}/deliveries", **params)[
        "_embedded"
    ]["deliveries"]
    return found


def _wait_for_delivery(url: str, webhook_id: int, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _deliveries(url, webhook_id, status=status)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {status} delivery for webhook {webhook_id} within 30 s")


def _headers(received: Received) -> dict[str, str]:
    return {k.lower(): v for k, v in received.headers.items()}


def _verified(secret: str, received: Received) -> Any:
    """The body, as the standardwebhooks package reads it once the signature checks out
    (it raises when none of the signatures was made with ``secret``)."""
    return Webhook(secret).verify(received.body, _headers(received))


def test_create_prints_the_secret_once_and_the_webhook_exists(
    server: str, receiver: Receiver
) -> None:
    out = _ok(
        _cli(server, "create", receiver.url("/created"), "-e", "customer.created,no.such.event")
    )
    webhook_id = int(re.search(r"Created webhook (\d+)\.", out).group(1))  # type: ignore[union-attr]
    assert "shown only now" in out
    assert "unknown event types ignored: no.such.event" in out
    [secret] = SECRET.findall(out)

    shown = _get(server, f"/webhooks/{webhook_id}")
    assert shown["url"] == receiver.url("/created")
    assert shown["events"] == ["customer.created"]
    assert shown["enabled"] is True
    assert "secret" not in shown
    # The secret printed is the one deliveries are signed with.
    _customer(server)
    [got] = receiver.wait_for("/created", 1)
    assert _verified(secret, got) == orjson.loads(got.body)


def test_create_takes_the_options(server: str, receiver: Receiver) -> None:
    out = _ok(
        _cli(
            server,
            "create",
            receiver.url("/options"),
            "--event",
            "*",
            "--format",
            "envelope",
            "--ordered",
            "--max-concurrency",
            "3",
            "--disabled",
        )
    )
    webhook_id = int(re.search(r"Created webhook (\d+)\.", out).group(1))  # type: ignore[union-attr]
    shown = _get(server, f"/webhooks/{webhook_id}")
    assert (shown["events"], shown["format"], shown["orderedDelivery"]) == (
        ["*"],
        "envelope",
        True,
    )
    assert (shown["maxConcurrency"], shown["enabled"]) == (3, False)


def test_list_and_show_display_the_webhooks(server: str, receiver: Receiver) -> None:
    first = _webhook(server, receiver.url("/list-a"))
    second = _webhook(server, receiver.url("/list-b"), ["convo.created", "convo.status"])

    listed = _ok(_cli(server, "list", columns=200))
    rows = {line.split()[0]: line for line in listed.splitlines() if line.strip()}
    assert receiver.url("/list-a") in rows[str(first["id"])]
    assert "customer.created" in rows[str(first["id"])]
    assert receiver.url("/list-b") in rows[str(second["id"])]
    assert "convo.created, convo.status" in rows[str(second["id"])]
    assert "healthy" in rows[str(second["id"])]

    shown = _ok(_cli(server, "show", str(second["id"])))
    assert receiver.url("/list-b") in shown
    assert re.search(r"Enabled\s+yes", shown)
    assert re.search(r"Format\s+freescout", shown)


def test_disable_and_enable_change_the_webhook(server: str, receiver: Receiver) -> None:
    hook = _webhook(server, receiver.url("/toggle"))
    path = f"/webhooks/{hook['id']}"

    assert "disabled" in _ok(_cli(server, "disable", str(hook["id"])))
    shown = _get(server, path)
    assert (shown["enabled"], shown["health"]["status"]) == (False, "disabled")

    assert "enabled" in _ok(_cli(server, "enable", str(hook["id"])))
    shown = _get(server, path)
    assert (shown["enabled"], shown["health"]["status"]) == (True, "healthy")


def test_rotate_secret_prints_a_new_secret_that_signs(server: str, receiver: Receiver) -> None:
    hook = _webhook(server, receiver.url("/rotated"))

    out = _ok(_cli(server, "rotate-secret", str(hook["id"])))
    [secret] = SECRET.findall(out)
    assert secret != hook["secret"]
    assert "shown only now" in out

    _customer(server)
    [got] = receiver.wait_for("/rotated", 1)
    # The new secret signs; the old one still does, beside it, for the grace period.
    assert _verified(secret, got) == orjson.loads(got.body)
    assert _verified(hook["secret"], got) == orjson.loads(got.body)


def test_deliveries_lists_what_the_receiver_got(server: str, receiver: Receiver) -> None:
    hook = _webhook(server, receiver.url("/listed"))
    _customer(server)
    [got] = receiver.wait_for("/listed", 1)
    message_id = _headers(got)["webhook-id"]
    delivered = _wait_for_delivery(server, hook["id"], "delivered")  # recorded after the answer
    assert delivered["id"] == message_id

    # Ids never wrap, even at 80 columns; the rest is easier to match on one wide line.
    assert message_id in _ok(_cli(server, "deliveries", str(hook["id"])))
    out = _ok(_cli(server, "deliveries", str(hook["id"]), columns=200))
    [row] = [line for line in out.splitlines() if message_id in line]
    assert re.search(r"\bcustomer\.created\b.*\bdelivered\b.*\b1\b.*200 in \d+ ms", row), out
    assert "(1 deliveries, newest first)" in out

    with_attempts = _ok(_cli(server, "deliveries", str(hook["id"]), "--attempts"))
    assert "Attempts" in with_attempts
    assert re.search(r"^\s*1\s+1\s+\S+ \S+\s+200\s+\d+ ms\s+-\s+ok", with_attempts, re.M)

    none = _ok(_cli(server, "deliveries", str(hook["id"]), "--status", "failed"))
    assert "No deliveries match" in none
    assert message_id not in none


def test_test_sends_a_webhook_test_event_and_waits_for_its_delivery(
    server: str, receiver: Receiver
) -> None:
    hook = _webhook(server, receiver.url("/tested"))

    out = _ok(_cli(server, "test", str(hook["id"]), "--wait"))
    found = re.search(r"sent webhook\.test event (evt_\w+) \(seq (\d+)\)", out)
    assert found, out
    [got] = receiver.wait_for("/tested", 1)
    headers = _headers(got)
    assert headers["x-freescout-event"] == "webhook.test"
    assert re.search(rf"delivered {headers['webhook-id']}: 200 in \d+ ms \(attempt 1\)", out)
    [delivery] = _deliveries(server, hook["id"], type="webhook.test")
    assert delivery["event"] == {"id": found[1], "seq": int(found[2]), "type": "webhook.test"}


def test_test_reports_a_delivery_that_failed(server: str, receiver: Receiver) -> None:
    receiver.script["/refusing"] = [500]
    hook = _webhook(server, receiver.url("/refusing"))

    done = _cli(server, "test", str(hook["id"]), "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"failed msg_\w+: 500 in \d+ ms", done.stdout), done.stdout
    assert len(receiver.at("/refusing")) == len(RETRY_SCHEDULE.split(","))


def test_redeliver_one_delivery_sends_it_again(server: str, receiver: Receiver) -> None:
    hook = _webhook(server, receiver.url("/again"))
    _customer(server)
    [first] = receiver.wait_for("/again", 1)
    delivery = _wait_for_delivery(server, hook["id"], "delivered")

    out = _ok(_cli(server, "redeliver", str(hook["id"]), "--delivery", delivery["id"]))
    assert f"Requeued delivery {delivery['id']}" in out
    second = receiver.wait_for("/again", 2)[1]
    # The same message, so a receiver that deduplicates on webhook-id sees a repeat.
    assert _headers(second)["webhook-id"] == _headers(first)["webhook-id"] == delivery["id"]
    assert second.body == first.body


def test_redeliver_since_replays_what_was_missed_while_disabled(
    server: str, receiver: Receiver
) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    hook = _webhook(server, receiver.url("/replayed"))
    webhook_id = str(hook["id"])
    _ok(_cli(server, "disable", webhook_id))
    _customer(server)
    skipped = _wait_for_delivery(server, hook["id"], "skipped")

    refused = _cli(server, "redeliver", webhook_id, "--since", since)
    assert refused.returncode == 1
    assert f"409 Webhook {webhook_id} is disabled" in refused.stderr
    assert receiver.at("/replayed") == []

    _ok(_cli(server, "enable", webhook_id))
    out = _ok(_cli(server, "redeliver", webhook_id, "--since", since, "--status", "skipped"))
    assert re.search(r"Operation op_\w+ completed: 1 succeeded, 0 failed", out), out
    [got] = receiver.wait_for("/replayed", 1)
    assert _headers(got)["webhook-id"] == skipped["id"]


def test_redeliver_since_defaults_to_failed_and_skipped(server: str, receiver: Receiver) -> None:
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    receiver.script["/recovering"] = [500]
    hook = _webhook(server, receiver.url("/recovering"))
    _customer(server)
    failed = _wait_for_delivery(server, hook["id"], "failed")
    tries = len(receiver.at("/recovering"))

    receiver.script["/recovering"] = [200]
    out = _ok(_cli(server, "redeliver", str(hook["id"]), "--since", since))
    assert re.search(r"Operation op_\w+ completed: 1 succeeded, 0 failed", out), out
    got = receiver.wait_for("/recovering", tries + 1)[-1]
    assert _headers(got)["webhook-id"] == failed["id"]


def test_an_unknown_webhook_is_one_clear_line(server: str) -> None:
    for args in (
        ("show", "999999"),
        ("deliveries", "999999"),
        ("disable", "999999"),
        ("rotate-secret", "999999"),
        ("test", "999999"),
    ):
        done = _cli(server, *args)
        assert done.returncode == 1, args
        assert done.stdout == ""
        [line] = done.stderr.splitlines()
        assert line.startswith("error: 404 Not Found"), line


def test_refusals_print_the_status_and_the_field_errors(server: str) -> None:
    private = _cli(server, "create", "http://10.1.2.3/hook", "--event", "customer.created")
    assert private.returncode == 1
    [line] = private.stderr.splitlines()
    assert line.startswith("error: 400 Error occurred: url: 10.1.2.3 is not a public address")

    wrong_key = _cli(server, "list", key="wrong")
    assert wrong_key.returncode == 1
    assert wrong_key.stderr.startswith("error: 401 Not Authorized")

    unreachable = _cli(f"http://127.0.0.1:{free_port()}", "list")
    assert unreachable.returncode == 1
    assert "error: cannot reach" in unreachable.stderr
    assert "Traceback" not in unreachable.stdout + unreachable.stderr


def test_redeliver_needs_one_of_delivery_or_since() -> None:
    done = _cli("http://127.0.0.1:9", "redeliver", "1")
    assert done.returncode == 2
    assert "'--delivery' or '--since'" in done.stderr


def test_help_lists_every_webhooks_command() -> None:
    out = _ok(_cli("http://127.0.0.1:9", "--help", columns=200))
    for command in (
        "list",
        "create",
        "show",
        "deliveries",
        "redeliver",
        "test",
        "rotate-secret",
        "enable",
        "disable",
    ):
        assert re.search(rf"^\W*{command}\s", out, re.M), command
