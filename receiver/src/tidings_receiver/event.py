"""What the inbox stores and hands out (pure): an incoming delivery's identity, the
:class:`Event` a handler gets, and what ``accept`` answers.

A delivery from Tidings names its event in headers:

- ``X-Tidings-Event-Id``: ``Event.id``, the event's id in the log (``evt_...``), the
  de-duplication key;
- ``X-FreeScout-Event``: ``Event.type``;
- ``X-Tidings-Event-Seq``: ``Event.seq``, the event's position in the log, the order;
- ``X-Tidings-Webhook-Id``: ``Event.webhook_id``;
- ``X-Tidings-Sequence``: ``Event.sequence``, 1, 2, 3, ... per webhook, for gap detection;
- ``webhook-id``: ``Event.message_id`` (``msg_...``, the same on every attempt).

Older senders lack some of them: the event id then comes from an envelope body
(``{"id": "evt_...", "type", "seq", "createdAt", "data"}``) when it is one, else from
``webhook-id``, else (FreeScout itself sends neither) from a hash of the type and body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from tidings_receiver.errors import MissingHeader

Source = Literal["delivery", "log"]


@dataclass(frozen=True, slots=True)
class Incoming:
    """A verified delivery, as it is stored."""

    id: str
    type: str
    seq: int | None
    webhook_id: int | None
    sequence: int | None
    message_id: str | None
    body: bytes


@dataclass(frozen=True)
class Event:
    """One event, as a handler gets it.

    ``data`` is the entity the event is about (the conversation, customer, operation or
    webhook), parsed from ``body``: for an envelope delivery, its ``data``. ``body`` holds
    the exact bytes delivered, or for an event recovered from the log (``source == "log"``),
    its ``data`` serialised as JSON.
    """

    id: str
    type: str
    seq: int | None
    body: bytes
    webhook_id: int | None = None
    sequence: int | None = None
    message_id: str | None = None
    source: Source = "delivery"
    received_at: datetime | None = None
    attempt: int = 1  # 1 on the first attempt, 2 on the first retry, ...

    @cached_property
    def data(self) -> Any:
        parsed = json.loads(self.body)
        return parsed["data"] if _is_envelope(parsed) else parsed


@dataclass(frozen=True, slots=True)
class Accepted:
    """``accept``'s answer: the event's id, and whether it had been accepted before."""

    event_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event whose handlers kept failing: it waits for ``retry_dead_letter``."""

    event: Event
    attempts: int
    error: str
    failed_at: datetime


def incoming(body: bytes, headers: Mapping[str, str]) -> Incoming:
    """The identity of a delivery, from its headers (and its body when they fall short)."""
    h = {name.lower(): value.strip() for name, value in headers.items()}
    envelope = _envelope(body) if not h.get("x-tidings-event-id") else None
    event_type = h.get("x-freescout-event") or (envelope or {}).get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MissingHeader("X-FreeScout-Event")
    seq = _number(h.get("x-tidings-event-seq"))
    if seq is None and envelope is not None:
        seq = _integer(envelope.get("seq"))
    return Incoming(
        id=_event_id(h, envelope, event_type, body),
        type=event_type,
        seq=seq,
        webhook_id=_number(h.get("x-tidings-webhook-id")),
        sequence=_number(h.get("x-tidings-sequence")),
        message_id=h.get("webhook-id") or None,
        body=body,
    )


def _event_id(
    h: Mapping[str, str], envelope: Mapping[str, Any] | None, event_type: str, body: bytes
) -> str:
    if h.get("x-tidings-event-id"):
        return h["x-tidings-event-id"]
    if envelope is not None:
        return str(envelope["id"])
    if h.get("webhook-id"):
        return h["webhook-id"]
    digest = hashlib.sha256(event_type.encode() + b"\n" + body).hexdigest()
    return f"sha256:{digest}"


def _envelope(body: bytes) -> dict[str, Any] | None:
    """The body when it is an envelope (``"format": "envelope"``), else ``None``."""
    if b'"evt_' not in body[:64]:  # an envelope begins with its id; spare other bodies a parse
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if _is_envelope(parsed) else None


def _is_envelope(parsed: Any) -> bool:
    return (
        isinstance(parsed, dict)
        and isinstance(parsed.get("id"), str)
        and parsed["id"].startswith("evt_")
        and "data" in parsed
        and "type" in parsed
    )


def _number(value: str | None) -> int | None:
    """A positive number from a header; a sender that has none sends nothing, or 0."""
    if not value or not (value.isascii() and value.isdigit()):
        return None
    return int(value) or None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
