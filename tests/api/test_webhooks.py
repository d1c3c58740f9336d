"""/api/webhooks: create (reference 1.6 and 2.1), list, get, delete; target URL policy."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.support import (
    CREATED_WEBHOOK_KEYS,
    WEBHOOK_KEYS,
    ApiClient,
    Desk,
    assert_created,
    assert_date,
    assert_invalid,
    assert_no_content,
    assert_not_found,
)

PUBLIC = "https://93.184.216.34/hooks/tidings"


def _create(client: ApiClient, **body: Any) -> dict[str, Any]:
    """Create; the webhook as GET shows it (the secret and dropped names checked apart)."""
    response = client.post("/api/webhooks", json={"url": PUBLIC, **body})
    made = assert_created(response, CREATED_WEBHOOK_KEYS)
    assert made["secret"].startswith("whsec_")
    return {k: v for k, v in made.items() if k not in ("secret", "ignoredEvents")}


def test_create_with_events_array(client: ApiClient, desk: Desk) -> None:
    response = client.post(
        "/api/webhooks",
        json={
            "url": PUBLIC,
            "events": ["convo.created", "convo.assigned", "no.such.event", "convo.created"],
            "mailboxes": [desk.mailbox2],  # FreeScout ignores it; Tidings filters by it
        },
    )
    made = assert_created(response, CREATED_WEBHOOK_KEYS)
    assert made == {
        "id": made["id"],
        "url": PUBLIC,
        "events": ["convo.created", "convo.assigned"],
        "lastRunTime": None,
        "lastRunError": None,
        "mailboxes": [desk.mailbox2],
        "enabled": True,
        "format": "freescout",
        "orderedDelivery": False,
        "maxConcurrency": 10,
        "health": {
            "status": "healthy",
            "consecutiveFailures": 0,
            "failingSince": None,
            "lastSuccessAt": None,
            "laggingSince": None,
            "disabledAt": None,
            "disabledReason": None,
        },
        "createdAt": made["createdAt"],
        "updatedAt": made["createdAt"],
        "secret": made["secret"],
        "ignoredEvents": ["no.such.event"],
    }
    assert_date(made["createdAt"])
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) == 32


def test_create_for_every_event(client: ApiClient) -> None:
    webhook = _create(client, events=["*", "bogus"])
    assert webhook["events"] == ["*"]


def test_create_refuses_unknown_mailboxes_and_bad_settings(client: ApiClient, counts: Any) -> None:
    before = counts()
    for extra, path in [
        ({"mailboxes": [999]}, "mailboxes"),
        ({"mailboxes": "1"}, "mailboxes"),
        ({"mailboxes": [True]}, "mailboxes"),
        ({"format": "xml"}, "format"),
        ({"maxConcurrency": 0}, "maxConcurrency"),
        ({"maxConcurrency": 101}, "maxConcurrency"),
        ({"orderedDelivery": "sometimes"}, "orderedDelivery"),
        ({"enabled": "no"}, "enabled"),
    ]:
        body = {"url": PUBLIC, "events": ["convo.created"], **extra}
        assert_invalid(client.post("/api/webhooks", json=body), path)
    assert counts() == before


def test_create_with_comma_string(client: ApiClient) -> None:
    webhook = _create(client, events="convo.created, customer.created ,bogus,,convo.tags")
    assert webhook["events"] == ["convo.created", "customer.created", "convo.tags"]


def test_create_refuses_bad_events(client: ApiClient, counts: Any) -> None:
    before = counts()
    for events in (["bogus"], [], "", "bogus,worse", None, 5, [1, 2], {"convo.created": True}):
        body = {"url": PUBLIC, "events": events}
        if events is None:
            del body["events"]
        assert_invalid(client.post("/api/webhooks", json=body), "events")
    assert counts() == before


REFUSED = [
    "http://127.0.0.1:8080/hook",
    "http://127.1.2.3/hook",
    "http://[::1]/hook",
    "http://localhost/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "ftp://93.184.216.34/hook",
    "93.184.216.34/hook",
    "https:///no-host",
    "not a url",
    "",
    "https://93.184.216.34/" + "x" * 2048,
]


def test_create_refuses_targets(client: ApiClient, counts: Any, subtests: pytest.Subtests) -> None:
    before = counts()
    for url in REFUSED:
        with subtests.test(url=url):
            body = {"url": url, "events": ["convo.created"]}
            assert_invalid(client.post("/api/webhooks", json=body), "url")
    assert counts() == before


def test_create_requires_a_string_url(client: ApiClient) -> None:
    assert_invalid(client.post("/api/webhooks", json={"events": ["convo.created"]}), "url")
    assert_invalid(
        client.post("/api/webhooks", json={"url": 5, "events": ["convo.created"]}), "url"
    )


@pytest.mark.parametrize("settings_overrides", [{"webhook_allowed_networks": "127.0.0.0/8"}])
def test_allowlisted_network_may_be_a_target(client: ApiClient) -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://127.9.9.9/hook", "http://localhost:9/x"):
        body = {"url": url, "events": ["convo.created"]}
        made = assert_created(client.post("/api/webhooks", json=body), CREATED_WEBHOOK_KEYS)
        assert made["url"] == url
    # Only the allowlisted network.
    for url in ("http://[::1]/hook", "http://10.0.0.5/hook"):
        assert_invalid(
            client.post("/api/webhooks", json={"url": url, "events": ["convo.created"]}), "url"
        )


@pytest.mark.parametrize("url", ["http://[::1/hook", "http://93.184.216.34:99999/hook"])
def test_malformed_url_is_400(client: ApiClient, url: str) -> None:
    assert_invalid(
        client.post("/api/webhooks", json={"url": url, "events": ["convo.created"]}), "url"
    )


def _listing(client: ApiClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/webhooks", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_list_get_delete(client: ApiClient) -> None:
    assert _listing(client)["_embedded"] == {"webhooks": []}
    first = _create(client, events=["convo.created"])
    second = _create(client, events=["customer.created"], url="https://93.184.216.35/x")
    listing = _listing(client)
    assert listing["_embedded"] == {"webhooks": [first, second]}
    assert listing["page"] == {"size": 50, "totalElements": 2, "totalPages": 1, "number": 1}
    assert _listing(client, pageSize=1, page=2)["_embedded"] == {"webhooks": [second]}
    # The signing secret is never shown again.
    raw = client.get("/api/webhooks").text
    assert "whsec_" not in raw
    assert '"secret"' not in raw

    one = client.get(f"/api/webhooks/{second['id']}")
    assert one.status_code == 200
    assert one.json() == second

    assert_no_content(client.delete(f"/api/webhooks/{first['id']}"))
    assert_not_found(client.get(f"/api/webhooks/{first['id']}"))
    assert_not_found(client.delete(f"/api/webhooks/{first['id']}"))
    assert _listing(client)["_embedded"] == {"webhooks": [second]}


def test_update(client: ApiClient, desk: Desk) -> None:
    webhook = _create(client, events=["convo.created"])
    path = f"/api/webhooks/{webhook['id']}"
    change = {
        "events": ["customer.created", "nope"],
        "mailboxes": [desk.mailbox],
        "format": "envelope",
        "orderedDelivery": True,
        "maxConcurrency": 3,
        "enabled": False,
    }
    assert_no_content(client.put(path, json=change))
    changed = client.get(path).json()
    assert (changed["events"], changed["mailboxes"], changed["format"]) == (
        ["customer.created"],
        [desk.mailbox],
        "envelope",
    )
    assert (changed["orderedDelivery"], changed["maxConcurrency"]) == (True, 3)
    assert changed["enabled"] is False
    assert changed["health"]["status"] == "disabled"
    assert changed["health"]["disabledReason"] == "disabled through the API"
    assert_no_content(client.put(path, json={"enabled": True}))
    again = client.get(path).json()
    assert again["health"] == {**changed["health"], "status": "healthy", "disabledAt": None,
                               "disabledReason": None}  # fmt: skip
    assert_invalid(client.put(path, json={"url": "http://10.0.0.1/x"}), "url")
    assert_invalid(client.put(path, json={"events": ["bogus"]}), "events")
    assert_not_found(client.put("/api/webhooks/999", json={"enabled": True}))


def test_rotate_secret(client: ApiClient) -> None:
    response = client.post("/api/webhooks", json={"url": PUBLIC, "events": ["convo.created"]})
    first = response.json()["secret"]
    rotated = client.post(f"/api/webhooks/{response.json()['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert set(rotated.json()) == WEBHOOK_KEYS | {"secret"}
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != first
    assert_not_found(client.post("/api/webhooks/999/rotate-secret"))


def test_unknown_webhook(client: ApiClient) -> None:
    assert_not_found(client.get("/api/webhooks/5"))
    assert_not_found(client.delete("/api/webhooks/5"))
    assert_invalid(client.get("/api/webhooks/five"))
    assert_invalid(client.delete("/api/webhooks/five"))
