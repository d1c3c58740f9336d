"""/api/webhooks: create (reference 1.6 and 2.1), list, get, delete; target URL policy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.support import (
    WEBHOOK_KEYS,
    ApiClient,
    assert_created,
    assert_invalid,
    assert_no_content,
    assert_not_found,
)

PUBLIC = "https://93.184.216.34/hooks/tidings"


def _create(client: ApiClient, **body: Any) -> dict[str, Any]:
    return assert_created(client.post("/api/webhooks", json={"url": PUBLIC, **body}), WEBHOOK_KEYS)


def test_create_with_events_array(client: ApiClient) -> None:
    webhook = _create(
        client,
        events=["convo.created", "convo.assigned", "no.such.event", "convo.created"],
        mailboxes=[1, 2],  # not settable through the API; ignored
    )
    assert webhook == {
        "id": webhook["id"],
        "url": PUBLIC,
        "events": ["convo.created", "convo.assigned"],
        "lastRunTime": None,
        "lastRunError": None,
    }


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
        assert assert_created(client.post("/api/webhooks", json=body), WEBHOOK_KEYS)["url"] == url
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


def test_list_get_delete(client: ApiClient) -> None:
    assert client.get("/api/webhooks").json() == {"_embedded": {"webhooks": []}}
    first = _create(client, events=["convo.created"])
    second = _create(client, events=["customer.created"], url="https://93.184.216.35/x")
    listing = client.get("/api/webhooks")
    assert listing.status_code == 200
    assert listing.json() == {"_embedded": {"webhooks": [first, second]}}
    # The signing secret is never shown.
    assert "whsec_" not in listing.text
    assert "secret" not in listing.text

    one = client.get(f"/api/webhooks/{second['id']}")
    assert one.status_code == 200
    assert one.json() == second

    assert_no_content(client.delete(f"/api/webhooks/{first['id']}"))
    assert_not_found(client.get(f"/api/webhooks/{first['id']}"))
    assert_not_found(client.delete(f"/api/webhooks/{first['id']}"))
    assert client.get("/api/webhooks").json() == {"_embedded": {"webhooks": [second]}}


def test_unknown_webhook(client: ApiClient) -> None:
    assert_not_found(client.get("/api/webhooks/5"))
    assert_not_found(client.delete("/api/webhooks/5"))
    assert_invalid(client.get("/api/webhooks/five"))
    assert_invalid(client.delete("/api/webhooks/five"))
