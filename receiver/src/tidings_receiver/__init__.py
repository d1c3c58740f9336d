"""Receive Tidings webhooks: verify them, keep them in a durable inbox, handle each event
once, recover lost deliveries from the event log, and reconcile a local copy with the
server. See docs/integrators.md in the Tidings repository."""

from tidings_receiver.digest import Item
from tidings_receiver.errors import (
    ApiError,
    BadSignature,
    BadTimestamp,
    DeleteNotConfirmed,
    MissingHeader,
    ReceiverError,
    VerificationError,
)
from tidings_receiver.event import Accepted, DeadLetter, Event
from tidings_receiver.gaps import Hole, Lost
from tidings_receiver.inbox import Inbox
from tidings_receiver.reconcile import LocalView, Report, reconcile
from tidings_receiver.retry import Backoff
from tidings_receiver.verify import verify

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "ApiError",
    "Backoff",
    "BadSignature",
    "BadTimestamp",
    "DeadLetter",
    "DeleteNotConfirmed",
    "Event",
    "Hole",
    "Inbox",
    "Item",
    "LocalView",
    "Lost",
    "MissingHeader",
    "ReceiverError",
    "Report",
    "VerificationError",
    "reconcile",
    "verify",
]
