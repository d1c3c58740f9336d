"""Turning a bulk request into a frozen selection, a dry run, or a queued operation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from tidings.desk import conversations as convos
from tidings.desk import tags
from tidings.desk import validate as v
from tidings.desk.enums import CONVERSATION_STATUSES, FolderType, State, Status
from tidings.desk.lifecycle import folder_conversation_ids
from tidings.desk.queries import ConversationFilter, matching_conversation_ids
from tidings.errors import ConfirmationRequired, InvalidInput
from tidings.events.outbox import Tx
from tidings.ids import new_id
from tidings.operations import confirm, store, wakeup
from tidings.operations.actions import ACTIONS, DESTRUCTIVE, parse_params

MAX_SELECTION = 1_000_000


@dataclass
class Request:
    action: str
    ids: list[int]
    params: dict[str, Any]
    by_user: int | None
    atomic: bool
    timeout_seconds: int | None
    dry_run: bool
    confirm_token: str | None
    selection: dict[str, Any]


def parse(conn: Connection, body: dict[str, Any]) -> Request:
    action = v.required_text(body, "action")
    if action not in ACTIONS:
        raise InvalidInput.field("action", f"`action` must be one of: {', '.join(ACTIONS)}")
    by_user = v.integer(body, "byUser")
    if by_user is not None:
        convos.require_user(conn, by_user, "byUser")
    raw_params = v.obj(body, "params") or {}
    params = parse_params(conn, action, raw_params, by_user)
    timeout = v.integer(body, "timeoutSeconds")
    if timeout is not None and timeout < 1:
        raise InvalidInput.field("timeoutSeconds", "`timeoutSeconds` must be 1 or more")
    ids, selection = _select(conn, action, body, params)
    if len(ids) > MAX_SELECTION:
        raise InvalidInput.field(
            "conversationIds", f"At most {MAX_SELECTION} conversations per operation"
        )
    token = v.text(body, "confirmToken")
    return Request(
        action,
        ids,
        params,
        by_user,
        v.boolean(body, "atomic"),
        timeout,
        v.boolean(body, "dryRun"),
        token,
        selection,
    )


def _select(
    conn: Connection, action: str, body: dict[str, Any], params: dict[str, Any]
) -> tuple[list[int], dict[str, Any]]:
    if "conversationIds" in body and "filter" in body:
        raise InvalidInput.field("filter", "Give either `conversationIds` or `filter`, not both")
    if action == "empty_trash" and "conversationIds" in body:
        # Emptying the trash selects by folder; ids could name conversations elsewhere.
        raise InvalidInput.field("conversationIds", "`empty_trash` takes a `filter.mailboxId`")
    if "conversationIds" in body:
        raw = body["conversationIds"]
        if not isinstance(raw, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in raw
        ):
            raise InvalidInput.field("conversationIds", "`conversationIds` must be a list of ids")
        ids = list(dict.fromkeys(raw))
        return ids, {"conversationIds": len(ids)}
    f = v.obj(body, "filter")
    if f is not None and not any(value is not None for value in f.values()):
        # An empty filter selects every conversation in the desk: never by accident.
        raise InvalidInput.field("filter", "`filter` needs at least one criterion")
    if f is None:
        raise InvalidInput.field("filter", "`conversationIds` or `filter` is required")
    if action == "empty_trash":
        mailbox_id = v.integer(f, "mailboxId", path="filter.mailboxId")
        if mailbox_id is None:
            raise InvalidInput.field(
                "filter.mailboxId", "`filter.mailboxId` is required to empty a folder"
            )
        convos.require_mailbox(conn, mailbox_id, "filter.mailboxId")
        folder = FolderType.SPAM if params.get("folder") == "spam" else FolderType.DELETED
        return folder_conversation_ids(conn, mailbox_id, folder), {"filter": f}
    mailbox_id = v.integer(f, "mailboxId", path="filter.mailboxId")
    status = v.enum_value(f, "status", Status, CONVERSATION_STATUSES, path="filter.status")
    cf = ConversationFilter(
        mailbox_ids=[mailbox_id] if mailbox_id is not None else None,
        folder_id=v.integer(f, "folderId", path="filter.folderId"),
        statuses=[status] if status else None,
        state=v.enum_value(f, "state", State, path="filter.state"),
        tag=tags.normalize(f["tag"]) if isinstance(f.get("tag"), str) else None,
        updated_before=v.date(f["updatedBefore"], "filter.updatedBefore")
        if f.get("updatedBefore")
        else None,
    )
    return matching_conversation_ids(conn, cf), {"filter": f}


def dry_run(req: Request, secret: str, tx_now: Any, ttl_seconds: int) -> dict[str, Any]:
    expires = tx_now + timedelta(seconds=ttl_seconds)
    result: dict[str, Any] = {"action": req.action, "total": len(req.ids)}
    if req.action in DESTRUCTIVE:
        result["confirmToken"] = confirm.issue(secret, req.action, req.params, req.ids, expires)
        result["expiresAt"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


def queue(tx: Tx, req: Request, secret: str) -> str:
    """Check the confirmation of destructive actions, then freeze the selection."""
    if req.action in DESTRUCTIVE:
        if not req.confirm_token:
            raise ConfirmationRequired(
                f"`{req.action}` destroys conversations: run it with dryRun first"
                " and send the confirmToken it returns"
            )
        if why := confirm.check(secret, req.confirm_token, req.action, req.params, req.ids, tx.now):
            raise ConfirmationRequired(why)
    op_id = new_id("op")
    store.insert_operation(
        tx.conn,
        {
            "id": op_id,
            "action": req.action,
            "status": "queued",
            "selection": req.selection,
            "params": req.params,
            "by_user_id": req.by_user,
            "atomic": req.atomic,
            "timeout_seconds": req.timeout_seconds,
            "total": len(req.ids),
            "processed": 0,
            "succeeded": 0,
            "failed": 0,
            "cancel_requested": False,
            "created_at": tx.now,
        },
        req.ids,
    )
    wakeup.notify(tx.conn)
    return op_id
