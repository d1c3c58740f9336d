"""The console in Chromium against a real ``tidings serve``: sign-in, the live tail, a bulk
delete confirmed with its count and watched to 100%, restoring from the trash, and a
cross-site POST refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import count
from typing import Any

import httpx
import pytest

from tests.acceptance.processes import KEY
from tests.browser.conftest import Server

pytestmark = pytest.mark.acceptance
_n = count(1)


def mailbox(server: Server) -> int:
    n = next(_n)
    body = {"name": f"Box {n}", "email": f"box{n}@console.example"}
    response = server.api.post("/api/mailboxes", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def user(server: Server) -> int:
    found = server.api.get("/api/users").json()["_embedded"]["users"]
    if found:
        return int(found[0]["id"])
    body = {"firstName": "Ada", "lastName": "Admin", "email": "ada@console.example"}
    response = server.api.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def conversation(server: Server, box: int, subject: str) -> int:
    response = server.api.post(
        "/api/conversations",
        json={
            "type": "email",
            "mailboxId": box,
            "subject": subject,
            "customer": {"email": f"c{next(_n)}@example.com"},
            "threads": [{"type": "customer", "text": "Hello"}],
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def pending(server: Server, box: int, total: int) -> list[int]:
    by = user(server)
    ids = [conversation(server, box, f"Waiting {n}") for n in range(total)]
    for convo in ids:
        response = server.api.put(
            f"/api/conversations/{convo}", json={"status": "pending", "byUser": by}
        )
        assert response.status_code == 204, response.text
    return ids


def test_sign_in_with_a_wrong_then_the_right_key(
    page: Any, server: Server, shoot: Callable[[Any, str], None]
) -> None:
    page.goto(f"{server.url}/console/events")
    assert "/console/sign-in" in page.url
    page.fill("#key", "not-the-key")
    page.click("button[type=submit]")
    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert "not this server's API key" in alert.inner_text()
    assert page.locator("#key").input_value() == ""
    shoot(page, "sign-in")
    page.fill("#key", KEY)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Event log')")  # back where it was going
    assert KEY not in page.content()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tidings_console"]["httpOnly"]
    assert cookies["tidings_console"]["sameSite"] == "Strict"


def test_an_api_change_appears_in_the_live_tail(console: Any, server: Server) -> None:
    box = mailbox(server)
    console.goto(f"{server.url}/console/events")
    console.wait_for_selector("[data-live].on")  # the event stream is open
    convo = conversation(server, box, "Seen live")
    row = console.locator(f"#tail tr:has-text('conversation {convo}')")
    row.first.wait_for()
    assert "convo.created" in row.first.inner_text()
    row.first.locator("a.event-type").click()
    console.wait_for_selector("#payload")
    assert '"subject": "Seen live"' in console.locator("#payload").inner_text()


def test_a_bulk_delete_is_counted_confirmed_and_watched_to_the_end(
    console: Any, server: Server, shoot: Callable[[Any, str], None]
) -> None:
    box = mailbox(server)
    ids = pending(server, box, 23)
    conversation(server, box, "Still active")  # in the mailbox, not selected
    console.goto(f"{server.url}/console/operations/new")
    console.select_option("#action", "delete")
    console.select_option("#filter-mailbox", str(box))
    console.select_option("#filter-status", "pending")
    console.select_option("#filter-state", "published")
    shoot(console, "bulk-form")
    console.click("#dry-run")
    assert console.locator("#dry-run-total").inner_text() == "23"
    console.fill("#typed", "22")
    console.click("#start")
    console.locator("[role=alert]:has-text('Type 23')").wait_for()
    console.fill("#typed", "23")
    shoot(console, "bulk-confirm")
    console.click("#start")
    console.wait_for_url(re.compile(r"/console/operations/op_\w+$"))
    console.wait_for_selector("#operation-progress [data-progress='100']")
    console.wait_for_selector("#operation-status .badge.completed")
    assert console.locator("#operation-processed").inner_text() == "23"
    shoot(console, "operation")
    op_id = console.url.rsplit("/", 1)[1]
    console.goto(f"{server.url}/console/events?operation={op_id}&type=convo.deleted")
    assert console.locator("#tail tr").count() == 23
    console.goto(f"{server.url}/console/events")
    assert console.locator("#tail tr:has-text('operation.completed')").count() >= 1
    shoot(console, "events")
    trash = server.api.get(
        "/api/conversations", params={"mailboxId": box, "state": "deleted", "pageSize": 50}
    ).json()
    assert sorted(c["id"] for c in trash["_embedded"]["conversations"]) == sorted(ids)


def test_restore_from_the_trash(
    console: Any, server: Server, shoot: Callable[[Any, str], None]
) -> None:
    box = mailbox(server)
    by = user(server)
    ids = [conversation(server, box, f"Binned {n}") for n in range(3)]
    for convo in ids:
        body = {"state": "deleted", "byUser": by}
        assert server.api.put(f"/api/conversations/{convo}", json=body).status_code == 204
    console.goto(f"{server.url}/console/trash?mailbox={box}")
    assert console.locator("#trash-total").inner_text() == "3"
    shoot(console, "trash")
    console.check(f"#pick-{ids[1]}")
    console.click("#restore-chosen")
    console.wait_for_url(re.compile(r"/console/operations/op_\w+$"))
    console.wait_for_selector("#operation-status .badge.completed")
    console.locator("#operation-events tr:has-text('convo.restored')").wait_for()
    assert server.api.get(f"/api/conversations/{ids[1]}").json()["state"] == "published"
    assert server.api.get(f"/api/conversations/{ids[0]}").json()["state"] == "deleted"


def test_the_overview_shows_the_charts(
    console: Any, server: Server, shoot: Callable[[Any, str], None]
) -> None:
    assert console.locator("svg.chart").count() == 2
    assert int(console.locator("#events-last-hour").inner_text().replace(",", "")) > 0
    shoot(console, "overview")
    light = console.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    console.emulate_media(color_scheme="dark")
    assert console.evaluate("getComputedStyle(document.documentElement).backgroundColor") != light
    shoot(console, "overview-dark")


def test_a_phone_sized_screen_keeps_the_console_usable(
    console: Any, server: Server, shoot: Callable[[Any, str], None]
) -> None:
    console.set_viewport_size({"width": 390, "height": 844})
    console.goto(f"{server.url}/console/operations")
    width = console.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shoot(console, "phone")


def test_a_cross_site_post_without_the_token_is_refused(console: Any, server: Server) -> None:
    cookie = {c["name"]: c["value"] for c in console.context.cookies()}["tidings_console"]
    jar = {"tidings_console": cookie}
    with httpx.Client(base_url=server.url, cookies=jar) as other:
        forged = other.post(
            "/console/sign-out", data={}, headers={"Origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        untokened = other.post("/console/operations/start", data={"body": "{}"})
        assert untokened.status_code == 403
        assert other.get("/console", follow_redirects=False).status_code == 200  # still valid
