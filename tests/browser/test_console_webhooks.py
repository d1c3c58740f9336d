"""The console's webhook pages in Chromium against a real ``tidings serve`` and a real
receiver on 127.0.0.1: create a webhook (its secret shown once, and it signs what
arrives), watch deliveries succeed and a test event land, make the receiver answer 500
until the webhook turns failing, replay what failed as an operation watched to 100%, and
see the webhook recover."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.acceptance.processes import KEY
from tests.browser.conftest import Server, serving
from tests.receiver import Receiver, running_receiver

pytestmark = pytest.mark.acceptance
# Three attempts a fraction of a second apart: a delivery fails for good within a second,
# so four of them make the webhook failing (four failures in a row) without waiting hours.
RETRIES = "0,0.3,0.3"
_n = count(1)


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``tidings serve`` as in ``conftest.server``, with a short retry schedule."""
    directory = tmp_path_factory.mktemp("console-webhooks")
    with serving(directory, request, retry_schedule=RETRIES) as found:
        yield found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def customers(server: Server, total: int) -> None:
    for _ in range(total):
        n = next(_n)
        body = {"firstName": f"Cust{n}", "email": f"cust{n}@example.com"}
        response = server.api.post("/api/customers", json=body)
        assert response.status_code == 201, response.text


def until(page: Any, what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    """Reload ``page`` until ``check()`` holds: the list and deliveries pages do not
    refresh themselves (an operator reloads them), so the test does too."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
        page.reload()


def health(page: Any) -> str:
    return str(page.locator("[data-health]").first.get_attribute("data-health"))


def create_webhook(
    console: Any, server: Server, url: str, shoot: Callable[[Any, str], None] | None = None
) -> tuple[int, str]:
    """Through the form: the webhook's id and the secret shown once."""
    console.goto(f"{server.url}/console/webhooks")
    console.click("text=New webhook")
    console.fill("input[name=url]", url)
    console.uncheck("input[name=events][value='*']")
    console.check("input[name=events][value='customer.created']")
    if shoot:
        shoot(console, "webhook-new")
    console.click("button:has-text('Create webhook')")
    secret = console.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    heading = console.locator("h1").inner_text()
    found = re.search(r"#(\d+)", heading)
    assert found, heading
    return int(found.group(1)), secret


def test_a_webhook_delivers_fails_is_replayed_and_recovers(
    console: Any, server: Server, receiver: Receiver, shoot: Callable[[Any, str], None]
) -> None:
    webhook_id, secret = create_webhook(console, server, receiver.url("/hook"), shoot)
    assert console.locator("button[data-copy=webhook-secret]").is_visible()
    shoot(console, "webhook-created")
    console.click("text=Done: to the webhook")
    assert secret not in console.content()
    assert KEY not in console.content()

    # Deliveries succeed, signed with the secret the page showed.
    customers(server, 3)
    arrived = receiver.wait_for("/hook", 3)
    headers = {k.lower(): v for k, v in arrived[0].headers.items()}
    assert Webhook(secret).verify(arrived[0].body, headers)["firstName"].startswith("Cust")
    console.goto(f"{server.url}/console/webhooks/{webhook_id}/deliveries")
    delivered = console.locator("tr[data-status=delivered]")
    until(console, "three delivered", lambda: delivered.count() == 3)
    assert console.locator("table.attempts >> text=HTTP 200").count() >= 1

    # A test event, watched on its page until its delivery is in (htmx polls).
    console.goto(f"{server.url}/console/webhooks/{webhook_id}")
    console.click("button:has-text('Send a test event')")
    console.wait_for_selector("#test-result[data-status=delivered]")
    assert "HTTP 200" in console.locator("#test-result").inner_text()
    assert receiver.wait_for("/hook", 4)[-1].headers["X-FreeScout-Event"] == "webhook.test"
    console.click("text=Back to the webhook")
    assert health(console) == "healthy"
    assert "just now" in console.locator("dt:has-text('Last success') + dd").inner_text()
    shoot(console, "webhook")

    # The receiver breaks: four deliveries fail for good and the webhook turns failing.
    receiver.script["/hook"] = [500]
    customers(server, 4)
    console.goto(f"{server.url}/console/webhooks")
    until(console, "the webhook to turn failing", lambda: health(console) == "failing")
    row = console.locator(f"tr[data-webhook='{webhook_id}']").inner_text()
    assert "failing" in row
    shoot(console, "webhooks")
    console.goto(f"{server.url}/console/webhooks/{webhook_id}/deliveries?status=failed")
    failed = console.locator("tr[data-status=failed]")
    until(console, "four failed deliveries", lambda: failed.count() == 4)
    assert console.locator("table.attempts >> text=HTTP 500").count() == 4 * 3
    shoot(console, "webhook-deliveries")
    failed_ids = {failed.nth(i).get_attribute("data-delivery") for i in range(4)}

    # It is mended; replay everything failed since a day ago, watched to 100%.
    receiver.script["/hook"] = [200]
    before = len(receiver.at("/hook"))
    console.click("#replay-form button:has-text('Replay')")
    console.wait_for_selector("#replay-progress[data-status=completed]")
    assert console.locator("#replay-progress .pct").inner_text() == "100%"
    assert "4 of 4 deliveries queued again" in console.locator("#replay-progress").inner_text()
    shoot(console, "webhook-replay")
    replayed = receiver.wait_for("/hook", before + 4)[before:]
    assert {r.headers["webhook-id"] for r in replayed} == failed_ids  # the same deliveries

    # Recovered: healthy again, nothing failed, and the log says so.
    console.goto(f"{server.url}/console/webhooks")
    until(console, "the webhook to recover", lambda: health(console) == "healthy")
    assert "0" in console.locator(f"tr[data-webhook='{webhook_id}'] td.num").first.inner_text()
    console.goto(f"{server.url}/console/webhooks/{webhook_id}/deliveries?status=failed")
    assert console.locator("tr[data-status=failed]").count() == 0
    logged = server.api.get("/api/events", params={"type": "webhook.recovered"}).json()
    assert [e["data"]["id"] for e in logged["_embedded"]["events"]] == [webhook_id]
    assert KEY not in console.content()


def test_rotating_shows_the_new_secret_once_and_it_signs(
    console: Any, server: Server, receiver: Receiver, shoot: Callable[[Any, str], None]
) -> None:
    webhook_id, first = create_webhook(console, server, receiver.url("/rotated"))
    console.goto(f"{server.url}/console/webhooks/{webhook_id}")
    console.click("button:has-text('Rotate secret')")
    second = console.locator("#webhook-secret").inner_text().strip()
    assert second.startswith("whsec_")
    assert second != first
    shoot(console, "webhook-rotated")
    console.goto(f"{server.url}/console/webhooks/{webhook_id}")
    assert second not in console.content()
    customers(server, 1)
    (got,) = receiver.wait_for("/rotated", 1)
    headers = {k.lower(): v for k, v in got.headers.items()}
    # Both secrets sign during the grace period, so a receiver can switch at leisure.
    assert Webhook(second).verify(got.body, headers)["firstName"].startswith("Cust")
    assert Webhook(first).verify(got.body, headers)["firstName"].startswith("Cust")
