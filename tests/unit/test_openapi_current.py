"""The committed openapi.json is what the app serves: API drift is always deliberate.

When this fails, run ``scripts/openapi`` and commit the new openapi.json together
with the change that caused it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tidings.api.components import EVENT_SCHEMAS, FROM_EVENT_SCHEMAS

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    """``scripts/openapi`` as a module, so the test and the script render alike."""
    loader = SourceFileLoader("scripts_openapi", str(ROOT / "scripts" / "openapi"))
    spec = spec_from_loader("scripts_openapi", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_committed_openapi_json_is_current() -> None:
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    assert committed == load_script().render(), (
        "openapi.json is out of date: run scripts/openapi and commit it"
    )


# --- what the document promises --------------------------------------------------------

SPEC = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_no_status_the_app_never_sends() -> None:
    assert '"422"' not in json.dumps(SPEC)
    assert not {"HTTPValidationError", "ValidationError"} & set(SPEC["components"]["schemas"])


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=lambda v: str(v))
def test_every_answer_has_its_schema(method: str, path: str, operation: dict[str, Any]) -> None:
    answers = operation["responses"]
    assert {"400", "401"} <= set(answers), "every /api operation checks the key and its input"
    assert operation["security"], "the API key"
    if "{" in path and any(code.startswith("2") for code in answers):
        assert "404" in answers
    if method in ("POST", "PUT", "DELETE"):
        assert "413" in answers
    for code, answer in answers.items():
        if code == "204":
            assert "content" not in answer, "204 has no body"
            continue
        [(media_type, content)] = answer["content"].items()
        assert content["schema"], f"{code} of {method} {path} promises nothing"
        if code.startswith(("4", "5")):
            assert media_type == "application/json"
            expected = "NotAuthorized" if code == "401" else "Error"
            assert content["schema"] == {"$ref": f"#/components/schemas/{expected}"}


def test_every_reference_resolves() -> None:
    schemas = SPEC["components"]["schemas"]
    for target in set(_refs(SPEC)):
        assert target.removeprefix("#/components/schemas/") in schemas, target


def test_event_payload_schemas_are_the_entities() -> None:
    """One description of a conversation, customer, operation, webhook and event: the
    event payload schema, with its ``$defs`` as components of their own."""
    schemas = SPEC["components"]["schemas"]
    for name, file in FROM_EVENT_SCHEMAS.items():
        source = json.loads((EVENT_SCHEMAS / file).read_text(encoding="utf-8"))
        assert schemas[name]["title"] == source["title"]
        assert schemas[name]["required"] == source["required"]
        for key in source.get("$defs", {}):
            assert key[:1].upper() + key[1:] in schemas
    assert "$defs" not in json.dumps(schemas)


def test_destructive_bulk_requests_document_their_dry_run_and_refusal() -> None:
    for path, method in (("/api/operations", "post"), ("/api/mailboxes/{mailbox_id}", "delete")):
        answers = SPEC["paths"][path][method]["responses"]
        assert answers["200"]["content"]["application/json"]["schema"]["$ref"].endswith("DryRun")
        assert answers["202"]["headers"]["Resource-ID"]["required"]
        assert "409" in answers


def test_attachment_bytes_are_any_media_type() -> None:
    answer = SPEC["paths"]["/api/attachments/{attachment_id}/data"]["get"]["responses"]["200"]
    assert answer["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
