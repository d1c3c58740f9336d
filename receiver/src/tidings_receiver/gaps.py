"""Which deliveries are missing, since when, and which logged events they were (pure).

Tidings numbers each webhook's deliveries 1, 2, 3, ... in the order of the event log, with
no gaps (``X-Tidings-Sequence``), and says where each event sits in the log
(``X-Tidings-Event-Seq``). So for one webhook:

- a **stream** remembers ``through``, the highest sequence below which every delivery has
  been accounted for, and the log position of that delivery; the **marks** are the
  sequences seen above it (deliveries arrive concurrently, so out of order);
- a **hole** is a run of sequences missing between two marks (or between ``through`` and
  the first mark). It exists since the first delivery past it arrived; one that has not
  filled after a grace period was most likely lost for good;
- its events are the webhook's events that lie in the log strictly between the positions
  of the deliveries around it: of the events there that the webhook's subscription
  matches, the last ``size`` (when the position before it is unknown, e.g. a hole at
  sequence 1, only the position after it bounds the search).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

ALL = "*"
TEST = "webhook.test"


@dataclass(frozen=True, slots=True)
class Mark:
    """A delivery seen (or a sequence filled from the log)."""

    sequence: int
    position: int | None
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Stream:
    webhook_id: int
    through: int  # every sequence <= through is accounted for
    position: int | None  # the log position of sequence ``through``, when known


@dataclass(frozen=True, slots=True)
class Hole:
    """Sequences ``first`` to ``last`` of a webhook, not received."""

    webhook_id: int
    first: int
    last: int
    after: int | None  # log position of the delivery before the hole (None: unknown)
    before: int | None  # log position of the delivery after it (None: the sender gave none)
    since: datetime

    @property
    def size(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class Lost:
    """A hole that the log could no longer fill: ``missing`` of its events are gone (older
    than the server's retention). Reconcile to repair what they changed."""

    webhook_id: int
    first: int
    last: int
    missing: int
    noticed_at: datetime


def advance(stream: Stream, marks: Sequence[Mark]) -> Stream:
    """``stream`` moved past the marks that continue it without a break (marks sorted by
    sequence)."""
    through, position = stream.through, stream.position
    for mark in marks:
        if mark.sequence <= through:
            continue
        if mark.sequence != through + 1:
            break
        through, position = mark.sequence, mark.position
    return Stream(stream.webhook_id, through, position)


def holes(stream: Stream, marks: Sequence[Mark]) -> list[Hole]:
    """The holes above ``stream.through`` (marks sorted by sequence)."""
    above = [m for m in marks if m.sequence > stream.through]
    # A hole exists since the earliest arrival of any delivery past it.
    earliest: list[datetime] = []
    for mark in reversed(above):
        earliest.append(min(mark.seen_at, earliest[-1]) if earliest else mark.seen_at)
    earliest.reverse()
    found: list[Hole] = []
    previous, position = stream.through, stream.position
    for mark, since in zip(above, earliest, strict=True):
        if mark.sequence > previous + 1:
            hole = Hole(
                stream.webhook_id, previous + 1, mark.sequence - 1, position, mark.position, since
            )
            found.append(hole)
        previous, position = mark.sequence, mark.position
    return found


def due(found: Iterable[Hole], now: datetime, grace: timedelta) -> list[Hole]:
    """The holes to fill from the log now: older than ``grace``, with a known end."""
    return [h for h in found if h.before is not None and h.since + grace <= now]


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a webhook receives: ``GET /api/webhooks/{id}``'s ``events`` and ``mailboxes``."""

    webhook_id: int
    events: tuple[str, ...]
    mailboxes: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, webhook: Mapping[str, Any]) -> Subscription:
        return cls(
            int(webhook["id"]),
            tuple(str(e) for e in webhook.get("events") or ()),
            tuple(int(m) for m in webhook.get("mailboxes") or ()),
        )

    def wants(self, event: Mapping[str, Any]) -> bool:
        """Whether this webhook was sent ``event`` (as ``GET /api/events`` shows it): the
        server's own rule. The mailbox filter applies to conversation events only; a
        ``webhook.test`` reaches only the webhook it tests, whatever it names."""
        entity = event.get("entity") or {}
        if event.get("type") == TEST:
            return entity.get("type") == "webhook" and entity.get("id") == self.webhook_id
        if ALL not in self.events and event.get("type") not in self.events:
            return False
        if not self.mailboxes or entity.get("type") != "conversation":
            return True
        return event.get("mailboxId") in self.mailboxes

    def types(self) -> list[str] | None:
        """The ``type`` filter that narrows the log to this webhook's events (None: all)."""
        if ALL in self.events:
            return None
        return sorted({*self.events, TEST})


@dataclass(frozen=True, slots=True)
class Found:
    """A hole's events fetched from the log, in log order (at most ``size``)."""

    events: list[dict[str, Any]]
    matching: int  # events between the hole's bounds that the subscription matched
    one_to_one: bool  # events[i] is the delivery numbered first + i

    def missing(self, hole: Hole) -> int:
        return hole.size - len(self.events)


def pick(logged: Iterable[dict[str, Any]], hole: Hole, subscription: Subscription) -> Found:
    """A hole's events among ``logged`` (log order; any events, any positions)."""
    window: deque[dict[str, Any]] = deque(maxlen=hole.size)
    matching = 0
    for event in logged:
        seq = int(event["seq"])
        inside = (hole.after is None or seq > hole.after) and (
            hole.before is None or seq < hole.before
        )
        if inside and subscription.wants(event):
            window.append(event)
            matching += 1
    events = list(window)
    # Below an unknown start, the events before the webhook existed match too: the last
    # ``size`` are still the hole's. Between two known positions, more or fewer than
    # ``size`` means the subscription changed, or the log was pruned.
    exact = matching == hole.size or (hole.after is None and matching > hole.size)
    return Found(events, matching, exact)


def assign(hole: Hole, found: Found) -> list[Mark]:
    """The marks that account for a hole once its events were fetched: each sequence with
    its event's position when they match one to one, else without positions."""
    sequences = range(hole.first, hole.last + 1)
    if found.one_to_one:
        return [
            Mark(n, int(e["seq"]), hole.since) for n, e in zip(sequences, found.events, strict=True)
        ]
    return [Mark(n, None, hole.since) for n in sequences]
