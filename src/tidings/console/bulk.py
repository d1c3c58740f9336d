"""The bulk action form, turned into the body ``POST /api/operations`` takes (pure).

The console holds no rules of its own about bulk work: it builds the API's request body
and hands it to ``operations.planning``, the service the API's route calls, which
validates, selects, issues and checks confirm tokens. The one thing the console adds is a
careful UI's habit: an action that deletes needs the operator to type how many
conversations it will touch.
"""

from __future__ import annotations

from typing import Any

from tidings.console.web import Form
from tidings.operations.actions import BULK_ACTIONS, DESTRUCTIVE

ACTIONS = tuple(a for a in BULK_ACTIONS if a != "delete_mailbox")  # that one: its own page
TYPE_THE_COUNT = frozenset({"delete", *DESTRUCTIVE})
FILTER_FIELDS = ("mailboxId", "folderId", "state", "status", "tag", "updatedBefore")
STATES = ("published", "deleted", "draft")
STATUSES = ("active", "pending", "closed", "spam")


def _number(value: str | None) -> int | str | None:
    """A number when it is one; otherwise the text, for the service to refuse by name."""
    if value is None:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value


def _moment(value: str | None) -> str | None:
    """``<input type="datetime-local">`` sends ``2026-12-06T09:15``, meant as UTC here."""
    if value and len(value) == 16 and value[10] == "T":
        return f"{value}:00Z"
    return value


def request_body(form: Form) -> dict[str, Any]:
    """The API body the form describes (``dryRun`` and ``confirmToken`` are the caller's)."""
    action = form.get("action") or ""
    body: dict[str, Any] = {"action": action}
    ids = form.get("conversationIds")
    if ids is not None:
        body["conversationIds"] = [_number(i.strip()) for i in ids.split(",") if i.strip()]
    else:
        found = {
            "mailboxId": _number(form.get("mailboxId")),
            "folderId": _number(form.get("folderId")),
            "state": form.get("state"),
            "status": form.get("status"),
            "tag": form.get("tag"),
            "updatedBefore": _moment(form.get("updatedBefore")),
        }
        body["filter"] = {k: v for k, v in found.items() if v is not None}
    params = _params(action, form)
    if params:
        body["params"] = params
    if (by_user := _number(form.get("byUser"))) is not None:
        body["byUser"] = by_user
    return body


def _params(action: str, form: Form) -> dict[str, Any]:
    if action == "status":
        return {"status": form.get("paramStatus")}
    if action == "assign":
        return {"user": _number(form.get("paramUser"))}
    if action == "move":
        return {"mailboxId": _number(form.get("paramMailbox"))}
    if action == "tag":
        names = [t.strip() for t in (form.get("paramTags") or "").split(",") if t.strip()]
        return {"tags": names, "replace": form.get("paramReplace") == "on"}
    if action == "empty_trash":
        return {"folder": form.get("paramFolder") or "deleted"}
    return {}


def describe(body: dict[str, Any]) -> str:
    """One line saying what the request selects, for the confirmation page."""
    if "conversationIds" in body:
        return f"{len(body['conversationIds'])} chosen conversation(s)"
    parts = [f"{k} = {v}" for k, v in body.get("filter", {}).items()]
    return ", ".join(parts) or "no filter"


def typed_count_ok(action: str, typed: str | None, total: int) -> bool:
    """An action that deletes goes ahead only once the operator typed its count."""
    if action not in TYPE_THE_COUNT:
        return True
    return (typed or "").replace(",", "").strip() == str(total)
