"""The pure policy of what a reply or note does to its conversation."""

from __future__ import annotations

import pytest

from tidings.desk.enums import State, Status, ThreadType
from tidings.desk.threads import reply_outcome

C, M, N = ThreadType.CUSTOMER, ThreadType.MESSAGE, ThreadType.NOTE
PUB, DEL = State.PUBLISHED, State.DELETED


@pytest.mark.parametrize(
    ("kind", "requested", "status", "state", "expected_status", "events"),
    [
        (C, None, Status.ACTIVE, PUB, Status.ACTIVE, ("convo.customer.reply.created",)),
        (
            C,
            None,
            Status.CLOSED,
            PUB,
            Status.ACTIVE,
            ("convo.customer.reply.created", "convo.status"),
        ),
        (
            M,
            None,
            Status.ACTIVE,
            PUB,
            Status.PENDING,
            ("convo.agent.reply.created", "convo.status"),
        ),
        (
            M,
            Status.CLOSED,
            Status.ACTIVE,
            PUB,
            Status.CLOSED,
            ("convo.agent.reply.created", "convo.status"),
        ),
        (N, None, Status.CLOSED, PUB, Status.CLOSED, ("convo.note.created",)),
        (
            N,
            Status.ACTIVE,
            Status.CLOSED,
            PUB,
            Status.ACTIVE,
            ("convo.note.created", "convo.status"),
        ),
        (
            C,
            None,
            Status.ACTIVE,
            DEL,
            Status.ACTIVE,
            ("convo.restored", "convo.customer.reply.created"),
        ),
        (
            M,
            None,
            Status.CLOSED,
            DEL,
            Status.PENDING,
            ("convo.restored", "convo.agent.reply.created", "convo.status"),
        ),
        (N, None, Status.ACTIVE, DEL, Status.ACTIVE, ("convo.note.created",)),
    ],
)
def test_reply_outcome(
    kind: ThreadType,
    requested: Status | None,
    status: Status,
    state: State,
    expected_status: Status,
    events: tuple[str, ...],
) -> None:
    outcome = reply_outcome(kind, requested, status, state)
    assert outcome.status == expected_status
    assert outcome.events == events
    assert outcome.restores == ("convo.restored" in events)
