"""Confirmation tokens for destructive operations: pure, stateless, bound to a selection.

A token is ``<expiry>.<HMAC(secret, action|params|ids digest|expiry)>``: it confirms
exactly the selection the dry run showed, and nothing else, for a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson


def ids_digest(ids: Iterable[int]) -> str:
    """SHA-256 of the sorted ids joined by commas: what ``operation.completed`` reports."""
    return sorted_ids_digest([sorted(ids)])


def sorted_ids_digest(batches: Iterable[Sequence[int]]) -> str:
    """``ids_digest`` of ids that arrive in ascending order, in batches: flat memory."""
    digest = hashlib.sha256()
    separator = b""
    for batch in batches:
        if batch:
            digest.update(separator + ",".join(map(str, batch)).encode())
            separator = b","
    return digest.hexdigest()


def _mac(secret: str, action: str, params: dict[str, Any], digest: str, expires: int) -> str:
    message = b"|".join(
        [
            action.encode(),
            orjson.dumps(params, option=orjson.OPT_SORT_KEYS),
            digest.encode(),
            str(expires).encode(),
        ]
    )
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def issue(secret: str, action: str, params: dict[str, Any], digest: str, expires: datetime) -> str:
    """A token for the selection whose ``ids_digest`` is ``digest``."""
    stamp = int(expires.timestamp())
    return f"{stamp}.{_mac(secret, action, params, digest, stamp)}"


def check(
    secret: str, token: str, action: str, params: dict[str, Any], digest: str, now: datetime
) -> str | None:
    """None when the token confirms this selection now; otherwise why not."""
    stamp_text, _, mac = token.partition(".")
    # isdigit() alone admits "²", which int() refuses.
    if not (stamp_text.isascii() and stamp_text.isdigit()) or len(stamp_text) > 11 or not mac:
        return "confirmToken is malformed; run the operation with dryRun first"
    if datetime.fromtimestamp(int(stamp_text), UTC) < now:
        return "confirmToken has expired; run the operation with dryRun again"
    expected = _mac(secret, action, params, digest, int(stamp_text))
    if not hmac.compare_digest(expected, mac):
        return (
            "confirmToken does not match this selection (it changed since the dry run);"
            " run dryRun again"
        )
    return None
