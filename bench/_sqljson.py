"""Experiment: the convo.deleted_forever payload built by SQLite itself (json_object).

Not used by Tidings. ``bulk.py --case sqljson_reference`` uses it to show how close
to the raw floor a snapshot can get when no Python runs per conversation; ``check_same``
compares its bytes with ``tidings.desk.conversation_views.conversations_json`` + orjson. SQLite only
(PostgreSQL's json_build_object writes ``"a" : 1``, so its bytes would differ).
Relies on json_group_array keeping the order of an ordered subquery (true in practice
for SQLite 3.40; 3.44+ can say ORDER BY inside the aggregate).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tidings.desk.enums import (
    ACTION_NAMES,
    ConversationType,
    SourceType,
    State,
    Status,
    ThreadState,
    ThreadType,
    Via,
)


def _case(column: str, enum: Any, default: str | None) -> str:
    whens = " ".join(f"WHEN {int(m)} THEN '{m.name.lower()}'" for m in enum)
    fallback = f"'{default}'" if default is not None else "NULL"
    return f"(CASE {column} {whens} ELSE {fallback} END)"


def _iso(column: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', {column})"


ACTION_CASE = (
    "(CASE t.action_type "
    + " ".join(f"WHEN {int(k)} THEN '{v}'" for k, v in ACTION_NAMES.items())
    + " ELSE NULL END)"
)


def _user(alias: str, column: str) -> str:
    return (
        f"(SELECT json_object('id', {alias}.id, 'type', 'user', 'firstName', {alias}.first_name,"
        f" 'lastName', {alias}.last_name, 'photoUrl', {alias}.photo_url, 'email', {alias}.email)"
        f" FROM users {alias} WHERE {alias}.id = {column})"
    )


def _first_email(column: str) -> str:
    return (
        f"(SELECT e.email FROM customer_emails e WHERE e.customer_id = {column}"
        " ORDER BY e.id LIMIT 1)"
    )


def _customer(alias: str, column: str, email: str | None = None) -> str:
    email_sql = f"COALESCE({email}, {_first_email(column)})" if email else _first_email(column)
    return (
        f"(SELECT json_object('id', {alias}.id, 'type', 'customer', 'firstName',"
        f" {alias}.first_name, 'lastName', {alias}.last_name, 'photoUrl', {alias}.photo_url,"
        f" 'email', {email_sql}) FROM customers {alias} WHERE {alias}.id = {column})"
    )


THREAD_JSON = f"""json_object(
    'id', t.id,
    'type', {_case("t.type", ThreadType, "customer")},
    'status', {_case("t.status", Status, "nochange")},
    'state', {_case("t.state", ThreadState, "published")},
    'action', json_object(
        'type', {ACTION_CASE},
        'text', CASE WHEN {ACTION_CASE} IS NOT NULL
                     THEN COALESCE(json_extract(t.meta, '$.text'), '') ELSE '' END,
        'associatedEntities', json(COALESCE(json_extract(t.meta, '$.associated'), '[]'))),
    'body', t.body,
    'source', json_object('type', {_case("t.source_type", SourceType, "email")},
                          'via', {_case("t.source_via", Via, "customer")}),
    'customer', json({_customer("tc", "t.customer_id")}),
    'createdBy', json(CASE WHEN t.source_via = {int(Via.CUSTOMER)}
                      THEN {_customer("tcb", "t.created_by_customer_id")}
                      ELSE {_user("tub", "t.created_by_user_id")} END),
    'assignedTo', json({_user("tua", "t.user_id")}),
    'to', json(t."to"), 'cc', json(t.cc), 'bcc', json(t.bcc),
    'createdAt', {_iso("t.created_at")},
    'openedAt', {_iso("t.opened_at")},
    '_embedded', json_object('attachments', (
        SELECT json_group_array(json_object('id', a.id, 'fileName', a.file_name,
               'fileUrl', '/api/attachments/' || a.id || '/data', 'mimeType', a.mime_type,
               'size', a.size))
        FROM (SELECT * FROM attachments a WHERE a.thread_id = t.id ORDER BY a.id) a)))"""

FRIENDLY = (
    "CASE WHEN c.last_reply_at IS NULL THEN '' ELSE"
    " substr('JanFebMarAprMayJunJulAugSepOctNovDec',"
    " (CAST(strftime('%m', c.last_reply_at) AS INTEGER) - 1) * 3 + 1, 3)"
    " || ' ' || CAST(strftime('%d', c.last_reply_at) AS INTEGER)"
    " || ', ' || strftime('%H:%M', c.last_reply_at) END"
)

CONVERSATION_JSON = f"""json_object(
    'id', c.id, 'number', c.number, 'threadsCount', c.threads_count,
    'type', {_case("c.type", ConversationType, "email")},
    'folderId', c.folder_id,
    'status', {_case("c.status", Status, "active")},
    'state', {_case("c.state", State, "published")},
    'subject', c.subject, 'preview', c.preview, 'mailboxId', c.mailbox_id,
    'assignee', json({_user("ua", "c.user_id")}),
    'createdBy', json(CASE WHEN c.source_via = {int(Via.CUSTOMER)}
                      THEN {_customer("ccb", "c.created_by_customer_id")}
                      ELSE {_user("ucb", "c.created_by_user_id")} END),
    'createdAt', {_iso("c.created_at")}, 'updatedAt', {_iso("c.updated_at")},
    'closedBy', CASE WHEN c.status = {int(Status.CLOSED)} THEN c.closed_by_user_id END,
    'closedByUser', json(CASE WHEN c.status = {int(Status.CLOSED)}
                         THEN {_user("ucl", "c.closed_by_user_id")} END),
    'closedAt', {_iso("c.closed_at")}, 'userUpdatedAt', {_iso("c.user_updated_at")},
    'customerWaitingSince', json_object('time', {_iso("c.last_reply_at")},
        'friendly', {FRIENDLY},
        'latestReplyFrom', {_case("c.last_reply_from", Via, None)}),
    'source', json_object('type', {_case("c.source_type", SourceType, "email")},
                          'via', {_case("c.source_via", Via, "customer")}),
    'cc', json(c.cc), 'bcc', json(c.bcc),
    'customer', json({_customer("cu", "c.customer_id", "c.customer_email")}),
    '_embedded', json_object('threads', (
        SELECT json_group_array(json(j)) FROM (
            SELECT {THREAD_JSON} AS j FROM threads t
            WHERE t.conversation_id = c.id AND t.state = {int(ThreadState.PUBLISHED)}
            ORDER BY t.created_at DESC, t.id DESC))))"""


def snapshot_sql(ids: Sequence[int]) -> str:
    listed = ",".join(str(int(i)) for i in ids)
    return (
        f"SELECT c.id, c.mailbox_id, {CONVERSATION_JSON} FROM conversations c"
        f" WHERE c.id IN ({listed}) ORDER BY c.id"
    )


def payloads(conn: Any, ids: Sequence[int]) -> list[tuple[int, int, str]]:
    """(conversation id, mailbox id, payload JSON text) for the ids that exist."""
    return [tuple(r) for r in conn.exec_driver_sql(snapshot_sql(ids))]  # type: ignore[misc]


def check_same(conn: Any, ids: Sequence[int]) -> int:
    import orjson
    from _common import tidings_views

    conversations_json = tidings_views().conversations_json

    ours = {cid: text for cid, _, text in payloads(conn, ids)}
    theirs = conversations_json(conn, ids, with_threads=True)
    assert len(ours) == len(theirs)
    for convo in theirs:
        expected = orjson.dumps(convo).decode()
        got = ours[convo["id"]]
        assert got == expected, f"conversation {convo['id']}:\n{got[:700]}\n{expected[:700]}"
    return len(theirs)
