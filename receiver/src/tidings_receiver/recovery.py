"""One round of gap detection: advance each webhook's stream, and fill from the event log
the holes that outlived their grace (the policy is ``gaps.py``; this is the I/O)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import groupby, takewhile

from tidings_receiver import gaps
from tidings_receiver.client import Client
from tidings_receiver.errors import ApiError
from tidings_receiver.gaps import Hole, Subscription
from tidings_receiver.store import Store

log = logging.getLogger("tidings_receiver")


def open_holes(store: Store) -> list[Hole]:
    """Move every stream past what has arrived without a break; the holes left."""
    found: list[Hole] = []
    moved: list[gaps.Stream] = []
    for stream, marks in store.streams():
        ahead = gaps.advance(stream, marks)
        if ahead.through > stream.through:
            moved.append(ahead)
        found += gaps.holes(ahead, marks)
    if moved:
        store.advance(moved)
    return found


def fill_due(
    store: Store, client: Client, holes: list[Hole], now: datetime, grace: timedelta
) -> int:
    """Fetch the events of the holes older than ``grace``; how many events were new."""
    new = 0
    due = gaps.due(holes, now, grace)
    for webhook_id, group in groupby(due, key=lambda h: h.webhook_id):
        try:
            subscription = Subscription.from_json(client.webhook(webhook_id))
            for hole in group:
                new += fill(store, client, hole, subscription, now)
        except ApiError as exc:
            log.warning("cannot fill the gaps of webhook %s yet: %s", webhook_id, exc)
    return new


def fill(
    store: Store, client: Client, hole: Hole, subscription: Subscription, now: datetime
) -> int:
    assert hole.before is not None  # gaps.due keeps only holes with a known end
    before = hole.before
    logged = client.events(hole.after or 0, subscription.types())
    found = gaps.pick(takewhile(lambda e: int(e["seq"]) < before, logged), hole, subscription)
    new = store.fill(hole, found.events, gaps.assign(hole, found), now)
    log.info(
        "webhook %s: deliveries %s-%s were missing; %s of their events recovered from the log",
        hole.webhook_id,
        hole.first,
        hole.last,
        len(found.events),
    )
    if found.missing(hole):
        log.warning(
            "webhook %s: %s events of deliveries %s-%s are no longer in the log: reconcile",
            hole.webhook_id,
            found.missing(hole),
            hole.first,
            hole.last,
        )
    elif not found.one_to_one:
        log.warning(
            "webhook %s: %s events matched between log positions %s and %s for %s deliveries"
            " (did its subscription change?); took the last ones",
            hole.webhook_id,
            found.matching,
            hole.after,
            hole.before,
            hole.size,
        )
    return new
