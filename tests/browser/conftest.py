"""Fixtures for the console's browser tests: a real ``tidings serve`` on SQLite, Debian's
Chromium driven by Playwright, and a page signed in to the console.

Reusable by every console page's tests (``test_console_webhooks.py`` among them):

- ``server``: one ``tidings serve`` per module (``Server``: its ``url``, an API client
  ``api`` with the key, ``log``), on a fresh SQLite database, its operation chunks small
  (5) so a bulk operation's progress moves visibly, webhooks to 127.0.0.1 allowed;
- ``browser``: Chromium, once per session (headless; ``executable_path`` is Debian's
  ``/usr/bin/chromium``: Playwright's own browser download does not work here);
- ``page``: a fresh context (1280x800, its own cookies) and page;
- ``console``: that page signed in to ``server``'s console;
- ``shoot(page, name)``: saves ``docs/console/<name>.png`` when ``TIDINGS_SCREENSHOTS`` is
  set (``scripts/screenshots``), does nothing otherwise.

Without Chromium the tests are skipped, saying so; ``scripts/test`` installs it first.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.processes import KEY, api, environment, running, wait_until_up
from tests.conftest import fresh_database
from tests.helpers import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
WAIT_MS = 15_000  # anything the page waits for: generous, never a measurement

pytestmark = pytest.mark.acceptance


@dataclass
class Server:
    url: str
    api: httpx.Client
    log: Path


def _chromium() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        pytest.skip(f"{CHROMIUM} is missing (scripts/test installs it: apt-get install chromium)")
    return found


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One Chromium for the browser tests. Package-scoped, not session: Playwright's sync
    API runs an event loop in this thread while it is open, and every later test that
    calls ``asyncio.run`` would find it running."""
    executable = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield launched
        launched.close()


@contextmanager
def serving(directory: Path, request: pytest.FixtureRequest, **settings: str) -> Iterator[Server]:
    """``tidings serve`` on a fresh SQLite database in ``directory``: chunks of 5 (so a bulk
    action's bar moves), webhooks to 127.0.0.1 allowed, and ``settings`` on top."""
    with fresh_database("sqlite", request, directory) as url:
        env = environment(
            url, operation_chunk_size="5", webhook_allowed_networks="127.0.0.1/32", **settings
        )
        port, log = free_port(), directory / "serve.log"
        with running(["serve", "--port", str(port)], env, log) as proc:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, proc, log)
            with api(base) as client:
                yield Server(base, client, log)


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with serving(tmp_path_factory.mktemp("console"), request) as found:
        yield found


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    found = context.new_page()
    yield found
    context.close()


def sign_in(page: Any, server: Server, key: str = KEY) -> None:
    page.goto(f"{server.url}/console/sign-in")
    page.fill("#key", key)
    page.click("button[type=submit]")


@pytest.fixture
def console(page: Any, server: Server) -> Any:
    sign_in(page, server)
    page.wait_for_selector("h1:has-text('Overview')")
    return page


@pytest.fixture(scope="session")
def shoot() -> Callable[[Any, str], None]:
    wanted = bool(os.environ.get("TIDINGS_SCREENSHOTS"))

    def take(page: Any, name: str) -> None:
        if wanted:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{name}.png"))

    return take
