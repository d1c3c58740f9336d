"""The framework adapters, each through its framework's own test client: a genuine delivery
is stored (204), a forged one refused with the failed check's name (400), a repeat stored
once."""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask
import pytest
from django.test import Client as DjangoClient
from django.test.utils import override_settings
from django.urls import path as django_path
from fastapi import FastAPI
from receiver_kit import OTHER_SECRET, SECRET, configure_django, delivery, wait_for
from starlette.applications import Starlette
from starlette.routing import Route
from tidings_receiver import Inbox
from tidings_receiver.asgi import endpoint, lifespan
from tidings_receiver.django import view as django_view
from tidings_receiver.wsgi import view as flask_view

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette.testclient's warning about its httpx backend
    from starlette.testclient import TestClient

configure_django()

# (status, body as JSON or None) of a POST of ``body`` with ``headers``
Post = Callable[[bytes, dict[str, str]], tuple[int, Any]]


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(tmp_path / "inbox.sqlite3", SECRET) as made:
        yield made


def starlette_post(inbox: Inbox) -> Post:
    app = Starlette(routes=[Route("/tidings", endpoint(inbox), methods=["POST"])])
    client = TestClient(app)

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        r = client.post("/tidings", content=body, headers=headers)
        return r.status_code, r.json() if r.content else None

    return post


def fastapi_post(inbox: Inbox) -> Post:
    app = FastAPI()
    app.add_api_route("/tidings", endpoint(inbox), methods=["POST"])
    client = TestClient(app)

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        r = client.post("/tidings", content=body, headers=headers)
        return r.status_code, r.json() if r.content else None

    return post


def flask_post(inbox: Inbox) -> Post:
    app = flask.Flask(__name__)
    app.add_url_rule("/tidings", view_func=flask_view(inbox), methods=["POST"])
    client = app.test_client()

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        r = client.post("/tidings", data=body, headers=headers)
        return r.status_code, r.get_json() if r.data else None

    return post


def django_post(inbox: Inbox) -> Post:
    urls = types.ModuleType("tidings_urls")
    urls.urlpatterns = [django_path("tidings", django_view(inbox))]  # type: ignore[attr-defined]
    client = DjangoClient(enforce_csrf_checks=True)  # the view is exempt: it has a signature

    def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        with override_settings(ROOT_URLCONF=urls):
            r = client.post(
                "/tidings",
                data=body,
                content_type="application/json",
                headers={k: v for k, v in headers.items() if k != "Content-Type"},
            )
        return r.status_code, r.json() if r.content else None

    return post


@pytest.mark.parametrize("make", [starlette_post, fastapi_post, flask_post, django_post])
def test_the_adapter_accepts_refuses_and_deduplicates(
    make: Callable[[Inbox], Post], inbox: Inbox
) -> None:
    post = make(inbox)
    body, headers = delivery({"id": 1}, event_id="evt_1", timestamp=_now())
    assert post(body, headers) == (204, None)
    assert post(body, headers) == (204, None)  # a repeat is answered, not stored again
    forged, forged_headers = delivery(
        {"id": 2}, event_id="evt_2", timestamp=_now(), secrets=(OTHER_SECRET,)
    )
    status, answer = post(forged, forged_headers)
    assert (status, answer["error"]) == (400, "BadSignature")
    status, answer = post(body[:-1], headers)
    assert (status, answer["error"]) == (400, "BadSignature")
    del headers["webhook-signature"]
    assert post(body, headers) == (
        400,
        {"error": "MissingHeader", "message": "the webhook-signature header is missing"},
    )
    handled: list[str] = []
    inbox.on("*", lambda e: handled.append(e.id))
    inbox.process()
    assert handled == ["evt_1"]


def test_the_django_view_takes_post_only(inbox: Inbox) -> None:
    urls = types.ModuleType("tidings_urls")
    urls.urlpatterns = [django_path("tidings", django_view(inbox))]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urls):
        assert DjangoClient().get("/tidings").status_code == 405


def test_the_asgi_lifespan_runs_the_worker(inbox: Inbox) -> None:
    handled: list[str] = []
    inbox.on("*", lambda e: handled.append(e.id))
    app = Starlette(
        routes=[Route("/tidings", endpoint(inbox), methods=["POST"])], lifespan=lifespan(inbox)
    )
    with TestClient(app) as client:
        body, headers = delivery({"id": 1}, event_id="evt_1", timestamp=_now())
        assert client.post("/tidings", content=body, headers=headers).status_code == 204
        wait_for("the worker", lambda: handled == ["evt_1"], timeout=10)
    assert not inbox.running  # stopped with the app


def _now() -> datetime:
    return datetime.now(UTC)
