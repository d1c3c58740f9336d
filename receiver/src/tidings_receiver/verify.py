"""Is a delivery authentic and fresh? (pure: the clock is passed in)

Two signatures come with every Tidings delivery; which one is checked follows the secret:

- a webhook's own secret (``whsec_...``, shown once when the webhook is created): Standard
  Webhooks. ``webhook-signature`` holds one ``v1,<base64 HMAC-SHA256>`` of
  ``"{webhook-id}.{webhook-timestamp}.{body}"`` per live secret (two while a rotated secret's
  grace period runs), and ``webhook-timestamp`` must be within ``tolerance`` of this clock,
  in both directions, which stops a captured request from being replayed later;
- any other string is the instance secret of FreeScout's module (``tidings
  webhook-secret``): ``X-FreeScout-Signature`` is base64 of HMAC-SHA1 of the body. It has no
  timestamp, so it cannot stop a replay; the inbox's de-duplication still drops one.

Both are computed over the exact bytes received: verify before parsing, never a re-encoded
body. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from standardwebhooks import Webhook

from tidings_receiver.errors import BadSignature, BadTimestamp, MissingHeader

SECRET_PREFIX = "whsec_"
TOLERANCE = timedelta(minutes=5)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: timedelta = TOLERANCE,
    now: Callable[[], datetime] | None = None,
) -> None:
    """Raise a :class:`~tidings_receiver.errors.VerificationError` unless ``body`` was signed
    with ``secret`` (and, for a ``whsec_`` secret, recently). Header names in any case."""
    found = {name.lower(): value for name, value in headers.items()}
    if secret.startswith(SECRET_PREFIX):
        moment = now() if now else datetime.now(UTC)
        _standard(body, found, secret, tolerance, moment)
    else:
        _freescout(body, found, secret)


def _standard(
    body: bytes, headers: dict[str, str], secret: str, tolerance: timedelta, now: datetime
) -> None:
    message_id = _required(headers, "webhook-id")
    stamp = _timestamp(_required(headers, "webhook-timestamp"), tolerance, now)
    offered = _required(headers, "webhook-signature").split()
    try:
        # standardwebhooks 1.0 signs text: a body that is not UTF-8 was not signed by Tidings.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadSignature("the body is not UTF-8, so no signature can match it") from exc
    expected = _webhook(secret).sign(message_id, stamp, text).encode()
    # Every offered signature is compared, each in constant time: which one matched (or how
    # far a forgery got) must not show in the time taken.
    matched = [hmac.compare_digest(expected, candidate.encode()) for candidate in offered]
    if not any(matched):
        raise BadSignature(f"none of the {len(offered)} webhook-signature values matches the body")


def _freescout(body: bytes, headers: dict[str, str], secret: str) -> None:
    offered = _required(headers, "X-FreeScout-Signature")
    digest = hmac.new(secret.encode(), body, hashlib.sha1).digest()
    if not hmac.compare_digest(base64.b64encode(digest), offered.strip().encode()):
        raise BadSignature("X-FreeScout-Signature does not match the body")


def _required(headers: dict[str, str], name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise MissingHeader(name)
    return value


def _timestamp(value: str, tolerance: timedelta, now: datetime) -> datetime:
    if not (value.isascii() and value.isdigit()):
        raise BadTimestamp(f"webhook-timestamp is not Unix seconds: {value[:40]!r}")
    try:
        stamp = datetime.fromtimestamp(int(value), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadTimestamp(f"webhook-timestamp is out of range: {value[:40]!r}") from exc
    age = (now - stamp).total_seconds()
    limit = tolerance.total_seconds()
    if age > limit:
        raise BadTimestamp(f"webhook-timestamp is {age:.0f} s old; at most {limit:.0f} s is fresh")
    if -age > limit:
        raise BadTimestamp(f"webhook-timestamp is {-age:.0f} s in the future (limit {limit:.0f} s)")
    return stamp


def check_secret(secret: str) -> None:
    """Raise ``ValueError`` for a ``whsec_`` secret that cannot sign (at configuration time,
    rather than on the first delivery)."""
    if secret.startswith(SECRET_PREFIX):
        _webhook(secret)


@lru_cache(maxsize=16)
def _webhook(secret: str) -> Webhook:
    """The signer of a ``whsec_`` secret (decoded once, not on every delivery)."""
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("a whsec_ secret is base64 after its prefix") from exc
    if not key:
        raise ValueError("a whsec_ secret is not empty")
    return Webhook(key)
