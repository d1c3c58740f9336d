"""The operations service: a bulk request becomes a dry run or a queued operation over a
frozen selection; destructive ones need the dry run's confirm token; operations stop
when asked to. The API's routes (``/api/operations``, ``DELETE /api/mailboxes/{id}``)
call only these functions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from tidings.clock import isoformat
from tidings.db import raw, wakeup
from tidings.db.raw import Statement
from tidings.desk import conversations as convos
from tidings.desk import tags
from tidings.desk import validate as v
from tidings.desk.enums import CONVERSATION_STATUSES, FolderType, State, Status
from tidings.desk.folders import FolderMap
from tidings.desk.queries import ConversationFilter, conversation_where
from tidings.errors import ConfirmationRequired, InvalidInput, NotFound
from tidings.events.outbox import Tx
from tidings.ids import new_id
from tidings.operations import confirm, store
from tidings.operations.actions import BULK_ACTIONS, DESTRUCTIVE, parse_params
from tidings.operations.model import Operation

MAX_SELECTION = 1_000_000


@dataclass(frozen=True)
class Selection:
    """The items an operation covers (conversations; a redelivery's deliveries): a list
    the client gave, or the statement that selects them.

    A statement stays a statement until the operation is queued, and is then frozen
    inside the database: its ids never pass through this process (flat memory in N).
    """

    ids: list[int] | None
    matching: Statement | None  # SELECT id ... ORDER BY id LIMIT MAX_SELECTION + 1
    description: dict[str, Any]  # kept on the operation: ``{"filter": ...}`` or a count

    def summary(self, conn: Connection) -> tuple[int, str]:
        """How many conversations, and their ``ids_digest``, streamed."""
        if self.ids is not None:
            return len(self.ids), confirm.ids_digest(self.ids)
        assert self.matching is not None
        total = 0

        def counted(batches: Iterator[list[int]]) -> Iterator[list[int]]:
            nonlocal total
            for batch in batches:
                total += len(batch)
                yield batch

        digest = confirm.sorted_ids_digest(counted(raw.batches(conn, self.matching)))
        return total, digest

    def freeze(self, conn: Connection, op_id: str) -> int:
        if self.ids is not None:
            return store.freeze_ids(conn, op_id, self.ids)
        assert self.matching is not None
        return store.freeze_matching(conn, op_id, self.matching)


@dataclass
class Request:
    action: str
    selection: Selection
    params: dict[str, Any]
    by_user: int | None
    atomic: bool
    timeout_seconds: int | None
    dry_run: bool
    confirm_token: str | None


def parse(conn: Connection, body: dict[str, Any]) -> Request:
    action = v.required_text(body, "action")
    if action not in BULK_ACTIONS:
        raise InvalidInput.field("action", f"`action` must be one of: {', '.join(BULK_ACTIONS)}")
    by_user = v.integer(body, "byUser")
    if by_user is not None:
        convos.require_user(conn, by_user, "byUser")
    raw_params = v.obj(body, "params") or {}
    params = parse_params(conn, action, raw_params, by_user)
    timeout = v.integer(body, "timeoutSeconds")
    if timeout is not None and timeout < 1:
        raise InvalidInput.field("timeoutSeconds", "`timeoutSeconds` must be 1 or more")
    selection = _select(conn, action, body, params)
    if selection.ids is not None:
        _check_size(len(selection.ids), selection)
    return Request(
        action,
        selection,
        params,
        by_user,
        v.boolean(body, "atomic"),
        timeout,
        v.boolean(body, "dryRun"),
        v.text(body, "confirmToken"),
    )


def _check_size(total: int, selection: Selection) -> None:
    if total > MAX_SELECTION:
        path = "conversationIds" if selection.ids is not None else "filter"
        raise InvalidInput.field(path, f"At most {MAX_SELECTION} conversations per operation")


def _select(
    conn: Connection, action: str, body: dict[str, Any], params: dict[str, Any]
) -> Selection:
    if "conversationIds" in body and "filter" in body:
        raise InvalidInput.field("filter", "Give either `conversationIds` or `filter`, not both")
    if action == "delete_mailbox":
        if "conversationIds" in body or "filter" in body:
            raise InvalidInput.field(
                "filter", "`delete_mailbox` selects every conversation of `params.mailboxId`"
            )
        mailbox = params["mailboxId"]
        return _matching(conn, ConversationFilter(mailbox_ids=[mailbox]), {"mailboxId": mailbox})
    if action == "empty_trash" and "conversationIds" in body:
        # Emptying the trash selects by folder; ids could name conversations elsewhere.
        raise InvalidInput.field("conversationIds", "`empty_trash` takes a `filter.mailboxId`")
    if "conversationIds" in body:
        ids = list(dict.fromkeys(_ids(body["conversationIds"])))
        return Selection(ids, None, {"conversationIds": len(ids)})
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
        folder_id = FolderMap(conn, {mailbox_id}).folder_id(mailbox_id, folder)
        return _matching(conn, ConversationFilter(folder_id=folder_id), f)
    mailbox_id = v.integer(f, "mailboxId", path="filter.mailboxId")
    status = v.enum_value(f, "status", Status, CONVERSATION_STATUSES, path="filter.status")
    tag = v.text(f, "tag", path="filter.tag")
    cf = ConversationFilter(
        mailbox_ids=[mailbox_id] if mailbox_id is not None else None,
        folder_id=v.integer(f, "folderId", path="filter.folderId"),
        statuses=[status] if status else None,
        state=v.enum_value(f, "state", State, path="filter.state"),
        tag=None if tag is None else tags.normalize(tag),
        updated_before=v.date(f["updatedBefore"], "filter.updatedBefore")
        if f.get("updatedBefore")
        else None,
    )
    return _matching(conn, cf, f)


def _ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise v.wrong("conversationIds", "a list of conversation ids")
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int) or not -(2**63) <= item < 2**63:
            raise v.wrong(f"conversationIds[{i}]", "a conversation id")
    return value


def _matching(conn: Connection, cf: ConversationFilter, f: dict[str, Any]) -> Selection:
    # One more than allowed is enough to refuse a selection that is too large.
    where = conversation_where(cf, conn.dialect.name)
    return Selection(None, store.matching_ids(where, MAX_SELECTION + 1), {"filter": f})


def dry_run(conn: Connection, req: Request, secret: str, now: datetime, ttl_seconds: int) -> Any:
    """How many conversations the request selects; for a destructive action, the token
    that confirms exactly this selection for ``ttl_seconds``."""
    total, digest = req.selection.summary(conn)
    _check_size(total, req.selection)
    expires = now + timedelta(seconds=ttl_seconds)
    result: dict[str, Any] = {"action": req.action, "total": total}
    if req.action in DESTRUCTIVE:
        result["confirmToken"] = confirm.issue(secret, req.action, req.params, digest, expires)
        result["expiresAt"] = isoformat(expires)
    return result


def queue(tx: Tx, req: Request, secret: str) -> Operation:
    """Freeze the selection, then check the confirmation of destructive actions against
    exactly what was frozen (a filter may match more or fewer conversations by now)."""
    if req.action in DESTRUCTIVE and not req.confirm_token:
        raise ConfirmationRequired(
            f"`{req.action}` destroys conversations: run it with dryRun first"
            " and send the confirmToken it returns"
        )
    op_id = new_id("op")
    store.insert_operation(
        tx.conn,
        op_id=op_id,
        action=req.action,
        selection=req.selection.description,
        params=req.params,
        by_user_id=req.by_user,
        atomic=req.atomic,
        timeout_seconds=req.timeout_seconds,
        now=tx.now,
    )
    total = req.selection.freeze(tx.conn, op_id)
    _check_size(total, req.selection)
    if req.action in DESTRUCTIVE:
        assert req.confirm_token is not None
        digest = store.items_digest(tx.conn, op_id)
        if why := confirm.check(secret, req.confirm_token, req.action, req.params, digest, tx.now):
            raise ConfirmationRequired(why)
    store.set_total(tx.conn, op_id, total)
    wakeup.notify(tx.conn)
    found = store.get(tx.conn, op_id)
    assert found is not None
    return found


def redelivery(webhook_id: int, matching: Statement, described: dict[str, Any]) -> Request:
    """``POST /api/webhooks/{id}/redeliver`` for a time range: a ``redeliver`` operation
    over the webhook's deliveries that ``matching`` selects (by ``sequence``)."""
    selection = Selection(None, matching, described)
    params = {"webhookId": webhook_id, **described}
    return Request("redeliver", selection, params, None, False, None, False, None)


def delete_mailbox_request(
    mailbox_id: int, dry_run: bool, confirm_token: str | None
) -> dict[str, Any]:
    """``DELETE /api/mailboxes/{id}`` as the body of a ``delete_mailbox`` operation."""
    body: dict[str, Any] = {"action": "delete_mailbox", "params": {"mailboxId": mailbox_id}}
    if dry_run:
        body["dryRun"] = True
    if confirm_token is not None:
        body["confirmToken"] = confirm_token
    return body


def cancel(tx: Tx, op_id: str) -> Operation:
    """Ask a queued or running operation to stop after its current chunk; the runner
    announces ``operation.cancelled`` when it does. A finished one is left as it is."""
    op = store.request_cancel(tx.conn, op_id)
    if op is None:
        raise NotFound()
    wakeup.notify(tx.conn)
    return op
