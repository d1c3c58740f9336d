"""The console's sign-in, session cookie, CSRF checks and sign-in throttling, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.api.console_support import csrf_of, sign_in, try_key
from tests.api.support import API_KEY, ApiClient
from tidings.console.session import COOKIE


def cookie_header(response: Any, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return str(found[0])


def test_pages_send_a_visitor_without_a_session_to_sign_in(anonymous: ApiClient) -> None:
    response = anonymous.get("/console/operations", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?next=/console/operations"


def test_the_api_key_header_does_not_sign_in_to_the_console(client: ApiClient) -> None:
    response = client.get("/console", follow_redirects=False)
    assert response.status_code == 303


def test_the_right_key_sets_a_strict_httponly_expiring_session_cookie(
    anonymous: ApiClient,
) -> None:
    response = try_key(anonymous, API_KEY, "/console/events")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/events"
    cookie = cookie_header(response, COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "max-age=28800" in cookie  # TIDINGS_CONSOLE_SESSION_HOURS, 8 by default
    assert "path=/console" in cookie
    assert API_KEY not in cookie
    assert anonymous.get("/console", follow_redirects=False).status_code == 200


def test_a_wrong_key_is_told_clearly_and_sets_no_session(anonymous: ApiClient) -> None:
    response = try_key(anonymous, "not-the-key")
    assert response.status_code == 401
    assert "That is not this server&#39;s API key" in response.text
    assert COOKIE + "=" not in " ".join(response.headers.get_list("set-cookie"))
    assert "not-the-key" not in response.text
    assert anonymous.get("/console", follow_redirects=False).status_code == 303


def test_after_three_failures_a_client_waits_even_with_the_right_key(
    app: FastAPI, anonymous: ApiClient
) -> None:
    clock = [1000.0]
    app.state.console.monotonic = lambda: clock[0]
    for _ in range(3):
        assert try_key(anonymous, "guess").status_code == 401
    refused = try_key(anonymous, API_KEY)
    assert refused.status_code == 429
    assert "try again in 1 second" in refused.text
    clock[0] += 1.5
    assert try_key(anonymous, "guess").status_code == 401  # the fourth failure: 2 s now
    clock[0] += 1.0
    assert try_key(anonymous, API_KEY).status_code == 429
    clock[0] += 1.5
    assert try_key(anonymous, API_KEY).status_code == 303


def test_a_forged_or_foreign_cookie_is_no_session(anonymous: ApiClient) -> None:
    sign_in(anonymous)
    good = anonymous.cookies[COOKIE]
    version, expires, sid, signature = good.split(".")
    forged = f"{version}.{int(expires) + 3600}.{sid}.{signature}"
    anonymous.cookies.set(COOKIE, forged, path="/console")
    assert anonymous.get("/console", follow_redirects=False).status_code == 303


def test_sign_out_needs_the_csrf_token_and_ends_the_session(anonymous: ApiClient) -> None:
    csrf = sign_in(anonymous)
    refused = anonymous.post("/console/sign-out", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert "security token" in refused.text
    wrong = anonymous.post("/console/sign-out", data={"csrf": csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    done = anonymous.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/console/sign-in"
    assert anonymous.get("/console", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
def test_a_cross_site_post_is_refused_even_with_the_token(
    anonymous: ApiClient, headers: dict[str, str]
) -> None:
    csrf = sign_in(anonymous)
    response = anonymous.post("/console/sign-out", data={"csrf": csrf}, headers=headers)
    assert response.status_code == 403
    assert "another site" in response.text


def test_the_sign_in_form_needs_its_own_token(anonymous: ApiClient) -> None:
    response = anonymous.post("/console/sign-in", data={"key": API_KEY}, follow_redirects=False)
    assert response.status_code == 403


def test_next_never_leaves_the_console(anonymous: ApiClient) -> None:
    for target in ("https://evil.example/", "//evil.example/console", "/api/conversations"):
        anonymous.cookies.clear()
        response = try_key(anonymous, API_KEY, target)
        assert response.headers["location"] == "/console", target


def test_console_pages_carry_the_security_headers(anonymous: ApiClient) -> None:
    sign_in(anonymous)
    response = anonymous.get("/console")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    assert csrf_of(response.text)


def test_the_api_is_untouched_by_the_console(app: FastAPI, client: ApiClient) -> None:
    assert not any("console" in repr(m) for m in app.user_middleware)
    assert client.get("/api/mailboxes").status_code == 200
    assert client.get("/api").json()["links"]["console"] == "/console"
    assert "console" not in client.get("/openapi.json").text


def test_static_files_are_served_with_the_vendored_htmx(anonymous: ApiClient) -> None:
    response = anonymous.get("/console/static/htmx.min.js")
    assert response.status_code == 200
    assert response.text.startswith("var htmx=function()")
