"""Compare a local copy of the conversations with the server, and repair it.

The server's ``GET /api/conversations/digest`` hashes every conversation's
``(id, updatedAt, state)`` in buckets; the same digest of the local copy (``digest.py``)
tells which buckets differ, and only those buckets' listings are fetched
(``&bucket=k``). A conversation is **missing** (on the server, not here), **extra** (here,
not on the server: deleted forever, or outside ``mailbox_id`` now) or **stale** (another
``updatedAt`` or ``state``). With ``repair=True`` each is fetched again
(``GET /api/conversations/{id}``) and upserted, or deleted when the server answers 404: a
conversation is deleted locally only once the server has said it is gone.

The integrator implements :class:`LocalView` over their copy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tidings_receiver.client import Client
from tidings_receiver.digest import DEFAULT_BUCKETS, Digest, Item, compare, differing, digest, item


class LocalView(Protocol):
    def items(self, mailbox_id: int | None) -> Iterable[Item | tuple[int, str, str]]:
        """Every conversation of the copy (of ``mailbox_id`` when given), any state, as
        ``(id, updatedAt, state)`` with ``updatedAt`` exactly as the API showed it."""
        ...

    def upsert(self, conversation: dict[str, Any]) -> None:
        """Store the conversation as ``GET /api/conversations/{id}`` shows it."""
        ...

    def delete(self, conversation_id: int) -> None:
        """Remove the conversation from the copy (the server answered 404)."""
        ...


@dataclass
class Report:
    remote_total: int
    local_total: int
    buckets: list[int]  # the buckets that differed
    missing: list[int]
    extra: list[int]
    stale: list[int]
    upserted: list[int] = field(default_factory=list)  # with repair
    deleted: list[int] = field(default_factory=list)  # with repair

    @property
    def in_sync(self) -> bool:
        return not (self.missing or self.extra or self.stale)


def reconcile(
    local: LocalView,
    api_url: str,
    api_key: str,
    *,
    mailbox_id: int | None = None,
    updated_since: datetime | str | None = None,
    repair: bool = False,
    buckets: int = DEFAULT_BUCKETS,
    client: Client | None = None,
) -> Report:
    """What differs between ``local`` and the server (conversations of ``mailbox_id``,
    updated at or after ``updated_since``); repaired when ``repair``."""
    if client is None:
        with closing(Client(api_url, api_key)) as own:
            return reconcile(
                local,
                api_url,
                api_key,
                mailbox_id=mailbox_id,
                updated_since=updated_since,
                repair=repair,
                buckets=buckets,
                client=own,
            )
    since = _since(updated_since)
    query = {"mailboxId": mailbox_id, "updatedSince": since, "buckets": buckets}
    remote = Digest.from_json(client.get("/conversations/digest", query))
    mine = [i for i in map(item, local.items(mailbox_id)) if since is None or i.updated_at >= since]
    report = Report(remote.total, len(mine), differing(digest(mine, buckets), remote), [], [], [])
    by_bucket: defaultdict[int, list[Item]] = defaultdict(list)
    for i in mine:
        by_bucket[i.id % buckets].append(i)
    for k in report.buckets:
        listed = client.get("/conversations/digest", {**query, "bucket": k})["conversations"]
        found = compare(by_bucket[k], map(item, listed))
        report.missing += found.missing
        report.extra += found.extra
        report.stale += found.stale
    for found_ids in (report.missing, report.extra, report.stale):
        found_ids.sort()
    if repair:
        _repair(local, client, report)
    return report


def _repair(local: LocalView, client: Client, report: Report) -> None:
    here = set(report.extra) | set(report.stale)
    for conversation_id in sorted({*report.missing, *report.extra, *report.stale}):
        current = client.conversation(conversation_id)
        if current is not None:
            local.upsert(current)
            report.upserted.append(conversation_id)
        elif conversation_id in here:
            local.delete(conversation_id)
            report.deleted.append(conversation_id)


def _since(value: datetime | str | None) -> str | None:
    """``updatedSince`` in whole seconds, the API's format, so that the server's filter
    and the local one (a string comparison) cut at the same place."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("updated_since must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
