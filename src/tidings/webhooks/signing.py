"""How a delivery is signed (pure): FreeScout's header and Standard Webhooks' headers.

A delivery's body is serialised once; these exact bytes are signed and sent.

- ``X-FreeScout-Signature``: base64 of HMAC-SHA1 of the body with the instance's webhook
  secret, as FreeScout's module computes it
  (``base64_encode(hash_hmac('sha1', $body, SECRET, true))``), so existing FreeScout
  receivers verify Tidings' deliveries unchanged.
- Standard Webhooks (v1): ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>`` of
  ``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed with the base64-decoded part of a
  ``whsec_`` secret; one signature per live secret, separated by spaces, so that a receiver
  keeps verifying while a rotated secret's grace period runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any

SECRET_PREFIX = "whsec_"


class InvalidSecret(ValueError):
    """A Standard Webhooks secret that is not ``whsec_`` and base64."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a webhook secret starts with {SECRET_PREFIX}")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise InvalidSecret("a webhook secret is base64 after its prefix") from exc
    if not key:
        raise InvalidSecret("a webhook secret is not empty")
    return key


def live_secrets(row: Any, now: datetime) -> list[str]:
    """A webhook's secrets that sign now, newest first: its secret, and the previous one
    while the grace period after a rotation runs."""
    secrets = [row.secret]
    if row.previous_secret and row.previous_secret_until and row.previous_secret_until > now:
        secrets.append(row.previous_secret)
    return secrets


def freescout_signature(body: bytes, instance_secret: str) -> str:
    """``X-FreeScout-Signature`` for ``body``."""
    digest = hmac.new(instance_secret.encode(), body, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def standard_signature(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One ``v1,...`` signature of ``body`` with one secret."""
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_signatures(
    message_id: str, timestamp: int, body: bytes, secrets: Sequence[str]
) -> str:
    """``webhook-signature``: one signature per live secret, newest first."""
    return " ".join(standard_signature(message_id, timestamp, body, s) for s in secrets)


def headers(
    *,
    event_type: str,
    message_id: str,
    timestamp: int,
    sequence: int,
    body: bytes,
    instance_secret: str,
    secrets: Sequence[str],
    webhook_id: int = 0,
    event_id: str = "",
    event_seq: int = 0,
) -> dict[str, str]:
    """Every header a delivery carries besides ``Content-Type``. The ``X-Tidings-*`` ones
    let a receiver find a missed delivery's event in the log: which webhook, its delivery
    counter, and the event's id and position."""
    return {
        "X-FreeScout-Event": event_type,
        "X-FreeScout-Signature": freescout_signature(body, instance_secret),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signatures(message_id, timestamp, body, secrets),
        "X-Tidings-Sequence": str(sequence),
        "X-Tidings-Webhook-Id": str(webhook_id),
        "X-Tidings-Event-Id": event_id,
        "X-Tidings-Event-Seq": str(event_seq),
    }
