"""A method the resource does not have: 405 with RFC 9110's ``Allow``, naming every method
of the path (FastAPI makes one route per method; Starlette would name only the first)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from tidings.app import create_app
from tidings.config import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette.testclient's httpx backend notice
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(database_url="sqlite://", api_key="k", run_workers=False))
    try:
        yield TestClient(app, headers={"X-FreeScout-API-Key": "k"})
    finally:
        app.state.ctx.db.dispose()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/api/conversations/1", "DELETE, GET, PUT"),
        ("DELETE", "/api/conversations", "GET, POST"),
        ("GET", "/api/webhooks/1/test", "POST"),
        ("HEAD", "/api/users/1", "DELETE, GET"),
        ("TRACE", "/api/operations", "GET, POST"),
    ],
)
def test_405_names_every_method_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert response.json() == "Method Not Allowed"  # FreeScout's body
