"""End to end against a real Tidings on 127.0.0.1: a receiver that drops deliveries
(answers 200 without storing them) still hands every event to its handlers, in log order,
because the inbox finds the holes in ``X-Tidings-Sequence`` and fetches their events from
``GET /api/events``; a late redelivery of a dropped one is then a duplicate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from receiver_kit import KEY, Tidings, serving, tidings_server, wait_for
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tidings_receiver import Event, Inbox
from tidings_receiver.asgi import endpoint

TYPES = {"convo.created", "convo.status", "customer.created"}


@dataclass
class Dropper:
    """Receives for an inbox set later; answers 200 without storing the sequences in
    ``drop``."""

    drop: set[int]
    inbox: Inbox | None = None
    arrived: list[int] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)  # sequence -> webhook-id

    async def hook(self, request: Request) -> Response:
        sequence = int(request.headers["x-tidings-sequence"])
        if sequence in self.drop:
            self.dropped[sequence] = request.headers["webhook-id"]
            self.arrived.append(sequence)
            return Response(status_code=200)
        assert self.inbox is not None
        answer = await endpoint(self.inbox)(request)
        self.arrived.append(sequence)
        return answer


@contextmanager
def dropping(tidings: Tidings, drop: set[int]) -> Iterator[tuple[Dropper, str]]:
    dropper = Dropper(drop)
    app = Starlette(routes=[Route("/hook", dropper.hook, methods=["POST"])])
    with serving(app, lifespan="off") as url:
        yield dropper, f"{url}/hook"


def conversation(tidings: Tidings, mailbox: int, customer: str) -> int:
    body = {
        "type": "email",
        "mailboxId": mailbox,
        "subject": "Help",
        "customer": {"email": customer},
        "threads": [{"type": "customer", "text": "Hello"}],
    }
    return int(tidings.post("/conversations", body)["id"])


def make_events(tidings: Tidings, box: int, other: int) -> None:
    """Events of every kind: subscribed, of another mailbox, of another type."""
    first = conversation(tidings, box, "a@example.com")  # customer.created, convo.created
    conversation(tidings, other, "b@example.com")  # customer.created only
    third = conversation(tidings, box, "a@example.com")  # convo.created
    tidings.api.put(f"/conversations/{first}", json={"status": "closed", "byUser": 1})
    tidings.post(f"/conversations/{third}/threads", {"type": "note", "text": "n", "user": 1})
    conversation(tidings, box, "c@example.com")  # customer.created, convo.created


def test_dropped_deliveries_are_recovered_from_the_log(tmp_path: Path) -> None:
    with tidings_server(tmp_path) as tidings, dropping(tidings, drop={1, 4}) as (dropper, url):
        box = tidings.post("/mailboxes", {"name": "Support", "email": "s@example.com"})["id"]
        other = tidings.post("/mailboxes", {"name": "Other", "email": "o@example.com"})["id"]
        tidings.post("/users", {"firstName": "Ann", "lastName": "L", "email": "ann@example.com"})
        start = tidings.mark()
        hook = tidings.post("/webhooks", {"url": url, "events": sorted(TYPES), "mailboxes": [box]})
        inbox = Inbox(
            tmp_path / "inbox.sqlite3",
            hook["secret"],
            api_url=tidings.url,
            api_key=KEY,
            gap_grace=timedelta(seconds=0.3),
        )
        dropper.inbox = inbox
        handled: list[Event] = []
        inbox.on("*", handled.append)
        make_events(tidings, box, other)
        expected = [e for e in tidings.events(start) if wanted(e, box)]
        assert len(expected) == 7
        wait_for("every delivery", lambda: sorted(dropper.arrived) == list(range(1, 8)))
        assert inbox.process() == 5  # the holes are younger than their grace
        assert [(h.first, h.last) for h in inbox.gaps()] == [(1, 1), (4, 4)]
        time.sleep(0.3)
        assert inbox.process() == 2
        assert inbox.gaps() == []
        assert inbox.lost() == []

        # Every event once; the recovered ones in the places of their lost deliveries.
        assert sorted((e.seq, e.id) for e in handled) == [(e["seq"], e["id"]) for e in expected]
        recovered = [e for e in handled if e.source == "log"]
        assert [(e.sequence, e.id, e.type) for e in recovered] == [
            (n, expected[n - 1]["id"], expected[n - 1]["type"]) for n in (1, 4)
        ]
        assert [e.data for e in recovered] == [expected[0]["data"], expected[3]["data"]]

        # The lost delivery comes back after all (a replay): a duplicate.
        dropper.drop.clear()
        r = tidings.api.post(
            f"/webhooks/{hook['id']}/redeliver", json={"deliveryId": dropper.dropped[4]}
        )
        assert r.status_code == 202, r.text
        wait_for("the redelivery", lambda: dropper.arrived.count(4) == 2)
        assert inbox.process() == 0
        assert inbox.counts() == {"pending": 0, "done": 7, "dead": 0}
        inbox.close()


def wanted(event: dict[str, Any], box: int) -> bool:
    if event["type"] not in TYPES:
        return False
    return event["entity"]["type"] != "conversation" or event["mailboxId"] == box
