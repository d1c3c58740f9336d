"""Which events a webhook receives (pure).

A webhook names event types (or ``*`` for all) and, optionally, mailboxes. The mailbox
filter applies to conversation events only: customer and operation events belong to no
mailbox and reach every webhook that names their type, as FreeScout does with customer
events. A ``webhook.test`` event reaches only the webhook it tests, whatever it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from tidings.events.catalog import ALL_EVENTS

ALL = "*"
TEST = "webhook.test"


@cache
def known_events() -> frozenset[str]:
    return frozenset(ALL_EVENTS)


def matches(
    events: Sequence[str],
    mailboxes: Sequence[int],
    event_type: str,
    entity_type: str,
    mailbox_id: int | None,
    *,
    webhook_id: int = 0,
    entity_id: int | None = None,
) -> bool:
    """Whether webhook ``webhook_id``, subscribed to ``events`` in ``mailboxes`` ([] = all),
    gets this event."""
    if event_type == TEST:
        return entity_id == webhook_id
    if ALL not in events and event_type not in events:
        return False
    if not mailboxes or entity_type != "conversation":
        return True
    return mailbox_id in mailboxes
