"""Delete confirmation: before a ``convo.deleted_forever`` reaches the handlers, ask the
API whether the conversation is really gone.

A receiver that deletes its copy on a forged, replayed or misrouted event loses data that
still exists. With ``Inbox(confirm_deletes=True)`` the event is handled only once
``GET /api/conversations/{id}`` answers 404. Any other answer (the conversation is still
there, or the API could not be asked) fails the attempt with :class:`DeleteNotConfirmed`:
the event is checked again with the inbox's backoff, and after its last attempt it waits
among the dead letters, reported rather than handled.
"""

from __future__ import annotations

from tidings_receiver.client import Client
from tidings_receiver.errors import ApiError, DeleteNotConfirmed
from tidings_receiver.event import Event

DELETED_FOREVER = "convo.deleted_forever"


def confirm_deleted(client: Client, event: Event) -> None:
    """Return when the event's conversation is gone; else raise ``DeleteNotConfirmed``."""
    data = event.data
    conversation_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(conversation_id, int):
        raise DeleteNotConfirmed("the event names no conversation id")
    try:
        still = client.conversation(conversation_id)
    except ApiError as exc:
        raise DeleteNotConfirmed(f"conversation {conversation_id}: cannot ask: {exc}") from exc
    if still is not None:
        raise DeleteNotConfirmed(
            f"conversation {conversation_id} still exists (state {still.get('state')!r}):"
            f" GET /api/conversations/{conversation_id} answered 200, not 404"
        )
