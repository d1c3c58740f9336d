"""``GET /`` and ``GET /api``: an index (name, version, where the documentation and the
collections are), without the API key; HTML for a browser on ``/``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.responses import HTMLResponse

from tests.api.support import ApiClient
from tidings import __version__

LINKS = {
    "docs": "/docs",
    "openapi": "/openapi.json",
    "console": "/console",
    "conversations": "/api/conversations",
    "customers": "/api/customers",
    "users": "/api/users",
    "mailboxes": "/api/mailboxes",
    "tags": "/api/tags",
    "webhooks": "/api/webhooks",
    "events": "/api/events",
    "operations": "/api/operations",
}


def _index(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"name", "version", "description", "authentication", "links"}
    assert (body["name"], body["version"]) == ("Tidings", __version__)
    return body


@pytest.mark.parametrize("path", ["/", "/api"])
@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_index_without_a_key(anonymous: ApiClient, path: str, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    assert _index(anonymous.get(path, headers=headers))["links"] == LINKS


def test_index_with_a_key_is_the_same(client: ApiClient, anonymous: ApiClient) -> None:
    assert client.get("/api").json() == anonymous.get("/api").json()


def test_every_link_leads_somewhere(client: ApiClient, anonymous: ApiClient) -> None:
    for name, href in _index(anonymous.get("/api"))["links"].items():
        assert client.get(href).status_code == 200, name
        if href.startswith("/api/"):
            # The index opens no door: the collections still want the key.
            assert anonymous.get(href).status_code == 401, name


def test_root_is_html_for_a_browser(anonymous: ApiClient) -> None:
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = anonymous.get("/", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert f"<title>Tidings {__version__}</title>" in page
    for href in LINKS.values():
        assert f'<a href="{href}">' in page
    # /api stays JSON whatever the client accepts.
    _index(anonymous.get("/api", headers={"Accept": accept}))


def test_console_is_linked_once_it_exists(app: FastAPI, anonymous: ApiClient) -> None:
    @app.get("/console", include_in_schema=False)
    def console() -> HTMLResponse:
        return HTMLResponse("<p>console</p>")

    links = _index(anonymous.get("/api"))["links"]
    assert links["console"] == "/console"


@pytest.mark.parametrize(("method", "path"), [("POST", "/"), ("PUT", "/api"), ("HEAD", "/")])
def test_index_is_read_only(anonymous: ApiClient, method: str, path: str) -> None:
    assert anonymous.request(method, path).status_code == 405


def test_index_is_not_in_the_openapi_document(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    assert "/" not in paths
    assert "/api" not in paths
