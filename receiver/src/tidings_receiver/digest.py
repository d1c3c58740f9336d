"""The conversation digest, computed the way ``GET /api/conversations/digest`` computes it,
and the comparison of two listings (pure).

A conversation ``(id, updatedAt, state)`` belongs to bucket ``id % buckets``. A bucket's
hash is the SHA-256 hex of the UTF-8 lines ``f"{id}:{updatedAt}:{state}\\n"`` of its
conversations in ascending id (an empty bucket: the SHA-256 of nothing); the top hash is
the SHA-256 hex of the bucket hashes joined by ``\\n``, in bucket order. ``updatedAt`` is
exactly as the API shows it (``2026-12-06T07:30:02Z``), ``state`` one of ``draft``,
``published``, ``deleted``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

DEFAULT_BUCKETS = 64


class Item(NamedTuple):
    """One conversation as the digest sees it."""

    id: int
    updated_at: str
    state: str

    def line(self) -> bytes:
        return f"{self.id}:{self.updated_at}:{self.state}\n".encode()


@dataclass(frozen=True, slots=True)
class Digest:
    counts: tuple[int, ...]
    hashes: tuple[str, ...]

    @property
    def buckets(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def hash(self) -> str:
        return hashlib.sha256("\n".join(self.hashes).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The server's answer for these conversations (without a bucket's listing)."""
        items = [
            {"bucket": k, "count": n, "hash": h}
            for k, (n, h) in enumerate(zip(self.counts, self.hashes, strict=True))
        ]
        return {"buckets": self.buckets, "total": self.total, "hash": self.hash, "items": items}

    @classmethod
    def from_json(cls, found: Mapping[str, Any]) -> Digest:
        items = sorted(found["items"], key=lambda i: int(i["bucket"]))
        if [int(i["bucket"]) for i in items] != list(range(int(found["buckets"]))):
            raise ValueError("the digest does not list every bucket once")
        return cls(tuple(int(i["count"]) for i in items), tuple(str(i["hash"]) for i in items))


def digest(items: Iterable[Item], buckets: int = DEFAULT_BUCKETS) -> Digest:
    """The digest of ``items``, in any order (duplicate ids are a caller's error)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    by_bucket: list[list[Item]] = [[] for _ in range(buckets)]
    for item in items:
        by_bucket[item.id % buckets].append(item)
    hashes = []
    for members in by_bucket:
        hasher = hashlib.sha256()
        for item in sorted(members):
            hasher.update(item.line())
        hashes.append(hasher.hexdigest())
    return Digest(tuple(len(m) for m in by_bucket), tuple(hashes))


def differing(local: Digest, remote: Digest) -> list[int]:
    """The buckets whose hashes differ (both digests must have as many buckets)."""
    if local.buckets != remote.buckets:
        raise ValueError(f"{local.buckets} buckets here, {remote.buckets} on the server")
    return [k for k in range(local.buckets) if local.hashes[k] != remote.hashes[k]]


@dataclass(frozen=True, slots=True)
class Difference:
    missing: list[int]  # on the server, not here
    extra: list[int]  # here, not on the server
    stale: list[int]  # both, with another updatedAt or state


def compare(local: Iterable[Item], remote: Iterable[Item]) -> Difference:
    here = {item.id: item for item in local}
    there = {item.id: item for item in remote}
    return Difference(
        missing=sorted(there.keys() - here.keys()),
        extra=sorted(here.keys() - there.keys()),
        stale=sorted(i for i in here.keys() & there.keys() if here[i] != there[i]),
    )


def item(value: Item | tuple[int, str, str] | Mapping[str, Any]) -> Item:
    """An ``Item`` from a tuple, or from a conversation as the API shows it."""
    if isinstance(value, Mapping):
        return Item(int(value["id"]), str(value["updatedAt"]), str(value["state"]))
    return Item(int(value[0]), str(value[1]), str(value[2]))
