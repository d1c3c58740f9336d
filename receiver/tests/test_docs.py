"""The adapter examples of docs/integrators.md, run as written: each under 20 lines, each
accepting a delivery through its framework's test client and handling it."""

from __future__ import annotations

import re
import types
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from receiver_kit import KEY, SECRET, configure_django, delivery, free_port, wait_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrators.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def example(adapter: str) -> str:
    found = [b for b in BLOCK.findall(DOC.read_text()) if f"tidings_receiver.{adapter} " in b]
    assert len(found) == 1, f"one {adapter} example in {DOC.name}"
    return str(found[0])


def post(adapter: str, namespace: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
    if adapter == "asgi":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # starlette.testclient's httpx backend warning
            from starlette.testclient import TestClient
        with TestClient(namespace["app"]) as client:  # runs the lifespan: the worker
            status = client.post("/tidings", content=body, headers=headers).status_code
            wait_for("the handler", lambda: namespace["inbox"].counts()["done"] == 1)
            return status
    if adapter == "wsgi":
        client = namespace["app"].test_client()
        return int(client.post("/tidings", data=body, headers=headers).status_code)
    from django.test import Client
    from django.test.utils import override_settings

    urls = types.ModuleType("example_urls")
    urls.urlpatterns = namespace["urlpatterns"]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=urls):
        extra = {k: v for k, v in headers.items() if k != "Content-Type"}
        answer = Client().post(
            "/tidings", data=body, content_type="application/json", headers=extra
        )
        return int(answer.status_code)


@pytest.mark.parametrize("adapter", ["asgi", "wsgi", "django"])
def test_the_adapter_example_is_short_and_works(
    adapter: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = example(adapter)
    assert len(code.strip().splitlines()) < 20
    configure_django()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIDINGS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TIDINGS_URL", f"http://127.0.0.1:{free_port()}")  # not called here
    monkeypatch.setenv("TIDINGS_API_KEY", KEY)
    namespace: dict[str, Any] = {"__name__": f"example_{adapter}"}
    exec(compile(code, f"{DOC.name} ({adapter})", "exec"), namespace)
    inbox = namespace["inbox"]
    try:
        body, headers = delivery(
            {"id": 7, "subject": "Where is my parcel?"}, sequence=1, timestamp=datetime.now(UTC)
        )
        assert post(adapter, namespace, body, headers) == 204
        wait_for("the handler", lambda: inbox.counts()["done"] == 1)
    finally:
        inbox.close()
    assert "new conversation 7 Where is my parcel?" in capsys.readouterr().out
    assert (tmp_path / "tidings-inbox.sqlite3").exists()
