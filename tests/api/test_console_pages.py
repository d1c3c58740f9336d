"""The console's pages over plain HTTP (no JavaScript): what they show, the bulk flow
through the operations service, the trash, and that no page ever shows the API key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.console_support import csrf_of, sign_in
from tests.api.support import API_KEY, ApiClient, Desk
from tidings.operations.runner import Runner

PAGES = (
    "/console",
    "/console/overview/panel",
    "/console/events",
    "/console/operations",
    "/console/operations/new",
    "/console/trash",
)


def run_operations(app: FastAPI) -> None:
    ctx = app.state.ctx
    runner = Runner(ctx.db, ctx.clock, ctx.settings)
    while runner.run_once():
        pass


def new_conversation(client: ApiClient, desk: Desk, subject: str) -> int:
    response = client.post(
        "/api/conversations",
        json={
            "type": "email",
            "mailboxId": desk.mailbox,
            "subject": subject,
            "customer": {"email": desk.customer_email},
            "threads": [{"type": "customer", "text": "Hello"}],
        },
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def make_pending(client: ApiClient, desk: Desk, ids: list[int]) -> None:
    for convo in ids:
        body = {"status": "pending", "byUser": desk.admin}
        assert client.put(f"/api/conversations/{convo}", json=body).status_code == 204


@pytest.fixture
def console(app: FastAPI, desk: Desk) -> Any:
    """A second client on the same app, signed in to the console (no API key header)."""
    with ApiClient(app, raise_server_exceptions=False) as browser:
        browser.csrf = sign_in(browser)  # type: ignore[attr-defined]
        yield browser


def test_every_page_is_server_rendered_and_never_shows_the_key(
    console: Any, client: ApiClient, desk: Desk
) -> None:
    new_conversation(client, desk, "Readable without JavaScript")
    for path in PAGES:
        response = console.get(path)
        assert response.status_code == 200, path
        assert API_KEY not in response.text, path
        assert "<script>" not in response.text, path  # no inline script: CSP allows none
    assert "Readable without JavaScript" not in console.get("/console/events").text  # ids only
    assert "convo.created" in console.get("/console/events").text


def test_the_overview_draws_its_charts_and_refreshes_itself(console: Any) -> None:
    page = console.get("/console").text
    assert page.count('<svg class="chart"') == 2
    assert 'hx-get="/console/overview/panel"' in page
    assert "No webhooks yet" in page
    assert "Nothing waiting" in page


def test_the_event_log_filters_and_opens_each_payload(
    console: Any, client: ApiClient, desk: Desk
) -> None:
    first = new_conversation(client, desk, "First")
    second = new_conversation(client, desk, "Second")
    page = console.get(f"/console/events?conversation={second}").text
    assert f"conversation {second}" in page
    assert f"conversation {first}<" not in page
    assert 'sse-connect="/console/events/stream?conversation=' in page
    event_id = re.findall(r'href="/console/events/(evt_\w+)"', page)[0]
    detail = console.get(f"/console/events/{event_id}").text
    assert "&#34;subject&#34;: &#34;Second&#34;" in detail  # pretty-printed, escaped
    assert "none (a single change)" in detail
    assert console.get("/console/events/evt_nothing").status_code == 404
    wrong = console.get("/console/events?mailbox=abc&type=no.such")
    assert wrong.status_code == 200
    assert "There is no event type" in wrong.text


def test_a_bulk_delete_is_counted_confirmed_by_typing_and_runs(
    app: FastAPI, console: Any, client: ApiClient, desk: Desk
) -> None:
    ids = [new_conversation(client, desk, f"Pending {n}") for n in range(3)]
    new_conversation(client, desk, "Still active")
    make_pending(client, desk, ids)
    form = {
        "csrf": console.csrf,
        "action": "delete",
        "mailboxId": str(desk.mailbox),
        "status": "pending",
        "state": "published",
    }
    dry = console.post("/console/operations/dry-run", data=form)
    assert dry.status_code == 200, dry.text
    assert re.search(r'id="dry-run-total">3<', dry.text)
    assert 'name="typed"' in dry.text
    body = re.search(r'name="body" value="([^"]+)"', dry.text)
    assert body
    start = {"csrf": csrf_of(dry.text), "body": body.group(1).replace("&#34;", '"'), "total": "3"}
    wrong = console.post("/console/operations/start", data={**start, "typed": "2"})
    assert wrong.status_code == 400
    assert "Type 3" in wrong.text
    assert client.get("/api/operations").json()["page"]["totalElements"] == 0
    started = console.post(
        "/console/operations/start", data={**start, "typed": "3"}, follow_redirects=False
    )
    assert started.status_code == 303
    op_path = started.headers["location"]
    run_operations(app)
    page = console.get(op_path).text
    assert 'data-progress="100"' in page
    assert "completed" in page
    assert page.count("convo.deleted") == 3
    assert "hx-trigger" not in page  # finished: it stops polling
    listed = client.get(
        "/api/conversations", params={"mailboxId": desk.mailbox, "state": "deleted"}
    ).json()
    assert sorted(c["id"] for c in listed["_embedded"]["conversations"]) == sorted(ids)


def test_a_selection_that_changed_since_the_dry_run_starts_nothing(
    console: Any, client: ApiClient, desk: Desk
) -> None:
    ids = [new_conversation(client, desk, f"Pending {n}") for n in range(2)]
    make_pending(client, desk, ids)
    form = {
        "csrf": console.csrf,
        "action": "delete",
        "mailboxId": str(desk.mailbox),
        "status": "pending",
    }
    dry = console.post("/console/operations/dry-run", data=form)
    body = re.search(r'name="body" value="([^"]+)"', dry.text)
    assert body
    make_pending(client, desk, [new_conversation(client, desk, "Late")])
    start = {
        "csrf": console.csrf,
        "body": body.group(1).replace("&#34;", '"'),
        "total": "2",
        "typed": "2",
    }
    refused = console.post("/console/operations/start", data=start)
    assert refused.status_code == 409
    assert "now holds 3, not 2" in refused.text
    assert client.get("/api/operations").json()["page"]["totalElements"] == 0


def test_a_refused_request_shows_the_services_message(console: Any) -> None:
    form = {"csrf": console.csrf, "action": "status", "state": "published"}
    refused = console.post("/console/operations/dry-run", data=form)
    assert refused.status_code == 400
    assert "byUser" in refused.text


def test_the_trash_restores_picked_ones_then_empties_with_token_and_count(
    app: FastAPI, console: Any, client: ApiClient, desk: Desk
) -> None:
    ids = [new_conversation(client, desk, f"Trashed {n}") for n in range(3)]
    for convo in ids:
        body = {"state": "deleted", "byUser": desk.admin}
        assert client.put(f"/api/conversations/{convo}", json=body).status_code == 204
    page = console.get(f"/console/trash?mailbox={desk.mailbox}").text
    assert re.search(r'id="trash-total">3<', page)
    restore = {"csrf": console.csrf, "mailbox": str(desk.mailbox), "ids": [str(ids[0])]}
    started = console.post("/console/trash/restore", data=restore, follow_redirects=False)
    assert started.status_code == 303
    run_operations(app)
    assert "convo.restored" in console.get(started.headers["location"]).text
    assert client.get(f"/api/conversations/{ids[0]}").json()["state"] == "published"
    dry = console.post(
        "/console/trash/empty", data={"csrf": console.csrf, "mailbox": str(desk.mailbox)}
    )
    assert re.search(r'id="dry-run-total">2<', dry.text)
    token = re.search(r'name="confirmToken" value="([^"]+)"', dry.text)
    body = re.search(r'name="body" value="([^"]+)"', dry.text)
    assert token
    assert body
    start = {
        "csrf": console.csrf,
        "body": body.group(1).replace("&#34;", '"'),
        "total": "2",
        "typed": "2",
        "confirmToken": token.group(1),
    }
    emptied = console.post("/console/operations/start", data=start, follow_redirects=False)
    assert emptied.status_code == 303, emptied.text
    run_operations(app)
    assert console.get(emptied.headers["location"]).text.count("convo.deleted_forever") == 2
    assert client.get(f"/api/conversations/{ids[1]}").status_code == 404


def test_cancel_needs_the_token_and_asks_the_operation_to_stop(
    console: Any, client: ApiClient, desk: Desk
) -> None:
    new_conversation(client, desk, "One")
    op = client.post(
        "/api/operations", json={"action": "delete", "filter": {"mailboxId": desk.mailbox}}
    ).json()
    assert console.post(f"/console/operations/{op['id']}/cancel", data={}).status_code == 403
    done = console.post(
        f"/console/operations/{op['id']}/cancel",
        data={"csrf": console.csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "requested; it stops" in console.get(done.headers["location"]).text
