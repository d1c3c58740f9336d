"""The conversation digest (``GET /api/conversations/digest``): counts and SHA-256 hashes
of every conversation's ``(id, updatedAt, state)``, in buckets, so a client finds which part
of its copy differs from the server without downloading every conversation.

A conversation belongs to bucket ``id % buckets``. A bucket's hash is the SHA-256 hex of the
UTF-8 lines ``f"{id}:{updatedAt}:{state}\\n"`` of its conversations in ascending id; the top
hash is the SHA-256 hex of the bucket hashes joined by ``\\n``, in bucket order (an empty
bucket's hash is the SHA-256 of nothing). ``tidings_receiver`` computes the same from its
copy, so this definition is a contract: change it and every client's comparison breaks.

:func:`digest` is pure; :func:`conversation_digest` streams the rows into it a batch at a
time, hashing as they come, so a million conversations never sit in memory at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from tidings.desk.conversation_views import STATE
from tidings.desk.queries import conversation_versions

MAX_BUCKETS = 4096
DEFAULT_BUCKETS = 64

# (id, updatedAt, state) as the API shows them: 7, "2026-12-06T07:30:02Z", "published".
Version = tuple[int, str, str]


@dataclass(frozen=True, slots=True)
class Digest:
    counts: list[int]
    hashes: list[str]
    # The versions of the bucket asked for, ascending by id; None when none was.
    listed: list[Version] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def hash(self) -> str:
        return hashlib.sha256("\n".join(self.hashes).encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "buckets": len(self.counts),
            "total": self.total,
            "hash": self.hash,
            "items": [
                {"bucket": k, "count": n, "hash": h}
                for k, (n, h) in enumerate(zip(self.counts, self.hashes, strict=True))
            ],
        }
        if self.listed is not None:
            found["conversations"] = [
                {"id": i, "updatedAt": updated, "state": state} for i, updated, state in self.listed
            ]
        return found


def digest(versions: Iterable[Version], buckets: int, listed: int | None = None) -> Digest:
    """The digest of ``versions``, which must come in ascending id (a bucket's lines are
    hashed in the order they arrive); with ``listed``, that bucket's versions too."""
    hashers = [hashlib.sha256() for _ in range(buckets)]
    counts = [0] * buckets
    kept: list[Version] = []
    for version in versions:
        convo_id, updated, state = version
        k = convo_id % buckets
        hashers[k].update(f"{convo_id}:{updated}:{state}\n".encode())
        counts[k] += 1
        if k == listed:
            kept.append(version)
    return Digest(counts, [h.hexdigest() for h in hashers], None if listed is None else kept)


def conversation_digest(
    conn: Connection,
    buckets: int,
    *,
    mailbox_id: int | None = None,
    updated_since: datetime | None = None,
    listed: int | None = None,
) -> Digest:
    """The digest of the conversations (every state) of ``mailbox_id`` updated at or after
    ``updated_since``, read inside ``conn``'s transaction."""
    return digest(
        _versions(conversation_versions(conn, mailbox_id, updated_since)), buckets, listed
    )


def _versions(batches: Iterator[list[Sequence[Any]]]) -> Iterator[Version]:
    for batch in batches:
        for convo_id, updated, state in batch:
            yield convo_id, updated, STATE[state]
