"""openapi.json is the truth: schemathesis fuzzes a live ``tidings serve`` against it.

A real server (SQLite, demo data, the webhook dispatcher off) on 127.0.0.1; schemathesis
loads the document the server serves and runs its examples, coverage and fuzzing phases on
every operation with every check on (server errors, status codes, content types, headers,
response schemas, positive and negative data, missing headers, ignored auth, unsupported
methods and their ``Allow``). The seed is fixed and the examples bounded, so a run is
reproducible and takes about a minute and a half on two cores (docs/api.md, "The contract").

Webhook creation resolves the URL's host. The dispatcher is off, so nothing is ever sent;
and every URL string in a ``POST /api/webhooks`` or ``PUT /api/webhooks/{id}`` body is
replaced by a loopback literal before the request leaves, so the server never resolves a
generated host name. The last test checks that no other URL got stored.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from tests.acceptance.processes import KEY, TIDINGS, environment, running, wait_until_up
from tests.helpers import free_port

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261206
MAX_EXAMPLES = 40
DEMO_CONVERSATIONS = 60
# Where generated webhook URLs point instead: a literal loopback address, nothing listening.
SAFE_URL = "http://127.0.0.1:9/fuzzed"
WEBHOOK_BODIES = {("POST", "/api/webhooks"), ("PUT", "/api/webhooks/{webhook_id}")}

# Writes may be refused for the state of the desk (an unknown id in `byUser`, an email
# already taken): FreeScout answers that 400, and no schema can say which ids exist.
WRITE_ACCEPTANCE = ["2xx", "400", "401", "403", "404", "409", "429"]

CONFIG: dict[str, Any] = {
    "seed": SEED,
    # No NUL: the API refuses U+0000 in any string (PostgreSQL cannot store it).
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none", "allow-x00": False},
    "checks": {"enabled": True},
    "auth": {"openapi": {"apiKeyHeader": {"api_key": KEY}}},
    "request-timeout": 30,
    "operations": [
        {
            "include-method-regex": "^(POST|PUT|DELETE)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": WRITE_ACCEPTANCE}},
        },
        {
            # The event stream never ends by itself (schemathesis reads text/event-stream
            # until `max-stream-events` messages or `request-timeout` seconds, whichever
            # comes first). So each request reads at most a few messages, each checked
            # against StreamedEvent (its `data` against Event), and stops waiting after a
            # second: a filter or cursor that matches nothing yet leaves the stream quiet.
            # Its 400s and 401s are ordinary JSON answers, checked like any other.
            "include-path": "/api/events/stream",
            "request-timeout": 1,
            "max-stream-events": 3,
        },
        {
            # FreeScout's answer when a module (Custom Fields, Time Tracking, CRM) is not
            # installed: these operations answer 400 to every request, as FreeScout's do.
            "include-path-regex": "/(custom_fields|customer_fields|timelogs)$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["400"]}},
        },
    ],
}


def _run(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([TIDINGS, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("contract")
    env = environment(
        f"sqlite:///{directory / 'tidings.db'}",
        run_dispatcher="false",
        webhook_allowed_networks="127.0.0.1/32",
    )
    _run("demo", "--conversations", str(DEMO_CONVERSATIONS), env=env)
    port = free_port()
    log = directory / "serve.log"
    with running(["serve", "--port", str(port)], env, log) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, proc, log)
        yield url


# The committed document: test_the_server_serves_the_committed_document checks that the
# live server serves exactly it (and tests/unit/test_openapi_current.py that the app does).
schema = schemathesis.openapi.from_path(
    ROOT / "openapi.json", config=SchemathesisConfig.from_dict(CONFIG)
)


def test_the_server_serves_the_committed_document(server: str) -> None:
    served = httpx.get(f"{server}/openapi.json", timeout=10).json()
    assert served == json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))


CASES: Counter[str] = Counter()  # requests sent, by operation


@schema.parametrize()
def test_the_server_keeps_its_contract(case: Any, server: str) -> None:
    CASES[case.operation.label] += 1
    webhook_body = (case.method.upper(), case.path) in WEBHOOK_BODIES
    if webhook_body and isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        case.body["url"] = SAFE_URL
    case.call_and_validate(base_url=server)


def test_every_operation_was_fuzzed() -> None:
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert set(CASES) == operations
    print(f"\nschemathesis: {len(CASES)} operations, {sum(CASES.values())} cases, seed {SEED}")


def test_no_generated_webhook_url_was_stored(server: str) -> None:
    headers = {"X-FreeScout-API-Key": KEY}
    found = httpx.get(f"{server}/api/webhooks?pageSize=200", headers=headers, timeout=10).json()
    urls = {w["url"] for w in found["_embedded"]["webhooks"]}
    assert urls <= {SAFE_URL}
