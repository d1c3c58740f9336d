"""The console's webhook pages over plain HTTP: every form needs its CSRF token, a secret
is shown once (in the answer to the POST that made it) and the API key never, and each
form does what the API would do, checked through the API and the event log.

No dispatcher runs here (the API tests subscribe public addresses): attempts are recorded
through the delivery loop's own ``store`` functions, as the dispatcher records them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.api.console_support import sign_in
from tests.api.support import API_KEY, ApiClient, Desk, FakeClock
from tidings.db.engine import Database
from tidings.events.outbox import transaction
from tidings.webhooks import store

PUBLIC = "https://93.184.216.34/hooks/console"
SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def csrf(client: ApiClient, desk: Desk) -> str:
    return sign_in(client)


def create(client: ApiClient, csrf: str, **fields: Any) -> tuple[int, str, str]:
    """Create a webhook through the console's form: its id, secret and the page."""
    data = {"csrf": csrf, "url": PUBLIC, "events": ["*"], **fields}
    response = client.post("/console/webhooks", data=data)
    assert response.status_code == 200, response.text
    (secret,) = set(SECRET.findall(response.text))
    found = re.search(r'href="/console/webhooks/(\d+)"', response.text)
    assert found
    return int(found.group(1)), secret, response.text


def events_of(client: ApiClient, event_type: str) -> list[dict[str, Any]]:
    found = client.get("/api/events", params={"type": event_type}).json()
    events: list[dict[str, Any]] = found["_embedded"]["events"]
    return events


def attempt(db: Database, clock: FakeClock, status: int, body: str, *, final: bool) -> None:
    """Make the deliveries the log holds, and record one attempt of each answered
    ``status`` with ``body`` (``final``: no retry left, so it fails)."""
    with transaction(db, clock) as tx:
        store.fan_out(tx.conn, tx.now)
        due = store.claim(tx.conn, "test", tx.now, timedelta(minutes=1), 100)
    results = [
        store.Result(
            delivery_id=d.id,
            webhook_id=d.webhook_id,
            number=d.attempts + 1,
            started_at=clock.now,
            status_code=status,
            latency_ms=42,
            response_body=body,
            error_class=None,
            error=None,  # as the sender records an HTTP answer: its status says it
            next_attempt_at=None if final or status < 300 else clock.now + timedelta(hours=1),
            delivered=status < 300,
            gone=False,
        )
        for d in due
    ]
    with transaction(db, clock) as tx:
        store.record(tx, results, "test")


# --- CSRF, secrets, the API key ---------------------------------------------------------


FORMS = [
    ("/console/webhooks", {"url": PUBLIC, "events": ["*"]}),
    ("/console/webhooks/{id}", {"url": PUBLIC, "events": ["convo.created"]}),
    ("/console/webhooks/{id}/disable", {}),
    ("/console/webhooks/{id}/enable", {}),
    ("/console/webhooks/{id}/rotate-secret", {}),
    ("/console/webhooks/{id}/test", {}),
    ("/console/webhooks/{id}/deliveries/msg_x/redeliver", {}),
    ("/console/webhooks/{id}/replay", {"since": "2020-01-01T00:00", "status": ["failed"]}),
]


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_every_form_is_refused_without_its_csrf_token_and_changes_nothing(
    client: ApiClient, csrf: str, path: str, fields: dict[str, Any]
) -> None:
    webhook_id, _, _ = create(client, csrf)
    before = client.get("/api/webhooks").json()
    position = client.get("/api/events").json()["_embedded"]["events"][0]["seq"]
    url = path.format(id=webhook_id)
    refused = [
        client.post(url, data=fields),
        client.post(url, data={**fields, "csrf": "forged"}),
        client.post(url, data={**fields, "csrf": csrf}, headers={"Origin": "https://evil.test"}),
        client.post(url, data={**fields, "csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert all(not SECRET.search(r.text) for r in refused)
    assert client.get("/api/webhooks").json() == before
    assert client.get("/api/events", params={"after": position}).json()["_embedded"] == {
        "events": []
    }


def test_a_post_without_a_session_is_refused(anonymous: ApiClient, client: ApiClient) -> None:
    response = anonymous.post("/console/webhooks", data={"url": PUBLIC, "events": ["*"]})
    assert response.status_code == 403
    assert client.get("/api/webhooks").json()["page"]["totalElements"] == 0


def test_pages_without_a_session_send_to_sign_in(anonymous: ApiClient) -> None:
    for path in ("/console/webhooks", "/console/webhooks/1", "/console/webhooks/1/deliveries"):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in?next=")


def test_the_secret_is_shown_once_and_the_api_key_never(
    client: ApiClient, csrf: str, desk: Desk
) -> None:
    webhook_id, secret, page = create(
        client, csrf, events=["convo.created", "no.such.event"], mailboxes=[str(desk.mailbox)]
    )
    assert 'data-copy="webhook-secret"' in page
    assert f'<pre id="webhook-secret" class="secret">{secret}</pre>' in page
    assert "Unknown event types ignored: no.such.event" in page
    rotated = client.post(f"/console/webhooks/{webhook_id}/rotate-secret", data={"csrf": csrf})
    assert rotated.status_code == 200
    (new,) = set(SECRET.findall(rotated.text))
    assert new != secret
    assert "keeps signing beside it for 24 h" in rotated.text
    pages = [page, rotated.text] + [
        client.get(path).text
        for path in (
            "/console/webhooks",
            f"/console/webhooks/{webhook_id}",
            f"/console/webhooks/{webhook_id}/deliveries",
            "/console/webhooks/new",
        )
    ]
    assert [len(SECRET.findall(p)) for p in pages] == [1, 1, 0, 0, 0, 0]
    assert all(API_KEY not in p for p in pages)


# --- what each form does ------------------------------------------------------------------


def test_create_is_listed_healthy_with_its_settings(
    client: ApiClient, csrf: str, desk: Desk
) -> None:
    webhook_id, _, _ = create(
        client, csrf, events=["convo.created", "customer.created"], mailboxes=[str(desk.mailbox2)]
    )
    made = client.get(f"/api/webhooks/{webhook_id}").json()
    assert (made["url"], made["events"], made["mailboxes"]) == (
        PUBLIC,
        ["convo.created", "customer.created"],
        [desk.mailbox2],
    )
    listing = client.get("/console/webhooks").text
    assert f'<a href="/console/webhooks/{webhook_id}">#{webhook_id}</a>' in listing
    assert re.findall(r'data-health="(\w+)"', listing) == ["healthy"]
    assert "convo.created, customer.created" in listing


def test_create_refuses_what_the_api_refuses_and_keeps_the_form(
    client: ApiClient, csrf: str
) -> None:
    private = client.post(
        "/console/webhooks",
        data={"csrf": csrf, "url": "http://127.0.0.1:9/x", "events": ["convo.created"]},
    )
    assert private.status_code == 400
    assert "url: 127.0.0.1 is not a public address" in private.text
    assert 'value="http://127.0.0.1:9/x"' in private.text
    assert 'value="convo.created" checked' in private.text
    nothing = client.post("/console/webhooks", data={"csrf": csrf, "url": PUBLIC})
    assert nothing.status_code == 400
    assert "events: " in nothing.text
    assert client.get("/api/webhooks").json()["page"]["totalElements"] == 0


def test_edit_changes_events_and_mailboxes(client: ApiClient, csrf: str, desk: Desk) -> None:
    webhook_id, _, _ = create(client, csrf)
    response = client.post(
        f"/console/webhooks/{webhook_id}",
        data={
            "csrf": csrf,
            "url": PUBLIC,
            "events": ["convo.deleted", "convo.restored"],
            "mailboxes": [str(desk.mailbox), str(desk.mailbox2)],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/console/webhooks/{webhook_id}?done=saved"
    hook = client.get(f"/api/webhooks/{webhook_id}").json()
    assert hook["events"] == ["convo.deleted", "convo.restored"]
    assert hook["mailboxes"] == [desk.mailbox, desk.mailbox2]
    page = client.get(response.headers["location"]).text
    assert "Saved." in page
    assert 'value="convo.restored" checked' in page
    wrong = client.post(
        f"/console/webhooks/{webhook_id}",
        data={"csrf": csrf, "url": PUBLIC, "events": ["convo.created"], "mailboxes": ["999"]},
    )
    assert wrong.status_code == 400
    assert "mailboxes: Mailbox 999 not found" in wrong.text
    assert client.get(f"/api/webhooks/{webhook_id}").json()["events"] == [
        "convo.deleted",
        "convo.restored",
    ]


def test_disable_and_enable_turn_the_badge_and_announce_it(client: ApiClient, csrf: str) -> None:
    webhook_id, _, _ = create(client, csrf)
    off = client.post(f"/console/webhooks/{webhook_id}/disable", data={"csrf": csrf})
    assert off.status_code == 200
    assert re.findall(r'data-health="(\w+)"', off.text) == ["disabled"]
    assert "Disabled: events are kept as skipped deliveries" in off.text
    assert client.get(f"/api/webhooks/{webhook_id}").json()["enabled"] is False
    assert [e["data"]["id"] for e in events_of(client, "webhook.disabled")] == [webhook_id]
    assert re.findall(r'data-health="(\w+)"', client.get("/console/webhooks").text) == ["disabled"]
    test = client.post(f"/console/webhooks/{webhook_id}/test", data={"csrf": csrf})
    assert test.status_code == 409
    assert f"Webhook {webhook_id} is disabled: enable it first" in test.text
    on = client.post(f"/console/webhooks/{webhook_id}/enable", data={"csrf": csrf})
    assert re.findall(r'data-health="(\w+)"', on.text) == ["healthy"]
    assert client.get(f"/api/webhooks/{webhook_id}").json()["enabled"] is True


def test_a_test_event_is_sent_and_its_result_page_waits_for_the_dispatcher(
    client: ApiClient, csrf: str
) -> None:
    webhook_id, _, _ = create(client, csrf, events=["convo.created"])
    sent = client.post(
        f"/console/webhooks/{webhook_id}/test", data={"csrf": csrf}, follow_redirects=False
    )
    assert sent.status_code == 303
    (event,) = events_of(client, "webhook.test")
    assert sent.headers["location"] == f"/console/webhooks/{webhook_id}/tests/{event['id']}"
    page = client.get(sent.headers["location"]).text
    assert 'data-status="waiting"' in page
    assert f'hx-get="/console/webhooks/{webhook_id}/tests/{event["id"]}/result"' in page


def test_a_test_events_result_shows_its_attempt(
    client: ApiClient, csrf: str, db: Database, clock: FakeClock
) -> None:
    webhook_id, _, _ = create(client, csrf, events=["convo.created"])
    sent = client.post(f"/console/webhooks/{webhook_id}/test", data={"csrf": csrf})
    assert sent.status_code == 200
    attempt(db, clock, 200, "thanks", final=False)
    (event,) = events_of(client, "webhook.test")
    result = client.get(f"/console/webhooks/{webhook_id}/tests/{event['id']}/result").text
    assert 'data-status="delivered"' in result
    assert "hx-trigger" not in result  # done: it stops polling
    assert "HTTP 200" in result
    assert '<code class="excerpt">thanks</code>' in result


def test_deliveries_show_every_attempt_filter_by_status_and_redeliver_one(
    client: ApiClient, csrf: str, desk: Desk, db: Database, clock: FakeClock
) -> None:
    webhook_id, _, _ = create(client, csrf, events=["customer.created"])
    for n in range(2):
        client.post("/api/customers", json={"firstName": f"C{n}", "email": f"c{n}@example.com"})
    attempt(db, clock, 500, "receiver exploded", final=True)
    page = client.get(f"/console/webhooks/{webhook_id}/deliveries").text
    assert re.findall(r'data-status="(\w+)"', page) == ["failed", "failed"]
    assert page.count("HTTP 500") == 4  # the last answer and the attempt, per delivery
    assert page.count("receiver exploded") == 2  # each attempt's answer
    assert "42 ms" in page
    delivered = client.get(f"/console/webhooks/{webhook_id}/deliveries?status=delivered").text
    assert "No deliveries delivered yet." in delivered
    listed = client.get(f"/api/webhooks/{webhook_id}/deliveries").json()
    first = listed["_embedded"]["deliveries"][-1]
    again = client.post(
        f"/console/webhooks/{webhook_id}/deliveries/{first['id']}/redeliver",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert (
        again.headers["location"] == f"/console/webhooks/{webhook_id}/deliveries?done=redelivered"
    )
    statuses = {
        d["id"]: d["status"]
        for d in client.get(f"/api/webhooks/{webhook_id}/deliveries").json()["_embedded"][
            "deliveries"
        ]
    }
    assert statuses[first["id"]] == "pending"
    twice = client.post(
        f"/console/webhooks/{webhook_id}/deliveries/{first['id']}/redeliver", data={"csrf": csrf}
    )
    assert twice.status_code == 409
    assert "is pending already" in twice.text


def test_replay_queues_a_redeliver_operation_and_shows_its_progress(
    client: ApiClient, csrf: str, desk: Desk, db: Database, clock: FakeClock
) -> None:
    webhook_id, _, _ = create(client, csrf, events=["customer.created"])
    for n in range(3):
        client.post("/api/customers", json={"firstName": f"C{n}", "email": f"c{n}@example.com"})
    attempt(db, clock, 503, "busy", final=True)
    response = client.post(
        f"/console/webhooks/{webhook_id}/replay",
        data={"csrf": csrf, "since": "2030-01-01T00:00", "status": ["failed", "skipped"]},
        follow_redirects=False,
    )
    assert response.status_code == 303
    found = re.fullmatch(
        rf"/console/webhooks/{webhook_id}/replays/(op_\w+)", response.headers["location"]
    )
    assert found
    op = client.get(f"/api/operations/{found.group(1)}").json()
    assert (op["action"], op["total"], op["status"]) == ("redeliver", 3, "queued")
    assert op["params"]["webhookId"] == webhook_id
    page = client.get(response.headers["location"]).text
    assert '<progress value="0" max="3"' in page
    assert f'hx-get="/console/webhooks/{webhook_id}/replays/{op["id"]}/progress"' in page
    fragment = client.get(f"/console/webhooks/{webhook_id}/replays/{op['id']}/progress").text
    assert fragment.startswith('<div id="replay-progress"')
    assert client.get(f"/console/webhooks/{webhook_id + 1}/replays/{op['id']}").status_code == 404


def test_replay_needs_a_time_and_a_status(client: ApiClient, csrf: str) -> None:
    webhook_id, _, _ = create(client, csrf)
    url = f"/console/webhooks/{webhook_id}/replay"
    no_time = client.post(url, data={"csrf": csrf, "status": ["failed"]})
    assert no_time.status_code == 400
    assert "since: " in no_time.text
    no_status = client.post(url, data={"csrf": csrf, "since": "2030-01-01T00:00"})
    assert no_status.status_code == 400
    assert "Pick at least one status to replay" in no_status.text
    assert client.get("/api/operations").json()["page"]["totalElements"] == 0


def test_an_unknown_webhook_is_a_404_page(client: ApiClient, csrf: str) -> None:
    for path in ("/console/webhooks/77", "/console/webhooks/77/deliveries"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Not found" in response.text
    assert client.post("/console/webhooks/77/test", data={"csrf": csrf}).status_code == 404
