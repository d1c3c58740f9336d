"""Helpers for the console's HTTP tests (no tests here): signing in, reading tokens."""

from __future__ import annotations

import re
from typing import Any

from tests.api.support import API_KEY

TOKEN = re.compile(r'name="token" value="([^"]+)"')
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in_token(client: Any) -> str:
    """Open the sign-in form (which sets its pre-session cookie); its token."""
    response = client.get("/console/sign-in")
    assert response.status_code == 200, response.text
    found = TOKEN.search(response.text)
    assert found, response.text
    return found.group(1)


def try_key(client: Any, key: str, next_url: str = "/console") -> Any:
    token = sign_in_token(client)
    return client.post(
        "/console/sign-in",
        data={"token": token, "key": key, "next": next_url},
        follow_redirects=False,
    )


def sign_in(client: Any) -> str:
    """Sign ``client`` in with the API key; the CSRF token of its session."""
    response = try_key(client, API_KEY)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console").text)


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:2000]
    return found.group(1)
