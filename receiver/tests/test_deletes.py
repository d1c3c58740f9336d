"""Delete confirmation against a real Tidings: a ``convo.deleted_forever`` reaches the
handlers once ``GET /api/conversations/{id}`` answers 404; one about a conversation that
still exists is checked again with backoff, then reported as a dead letter, never handled."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from receiver_kit import KEY, delivery, serving, tidings_server, wait_for
from starlette.applications import Starlette
from starlette.routing import Route
from tidings_receiver import Backoff, Event, Inbox
from tidings_receiver.asgi import endpoint


def test_a_deletion_is_handled_only_once_the_server_confirms_it(tmp_path: Path) -> None:
    deleted: list[int] = []
    with tidings_server(tmp_path) as tidings:
        holder: dict[str, Inbox] = {}

        async def hook(request):  # type: ignore[no-untyped-def]
            return await endpoint(holder["inbox"])(request)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        with serving(app, lifespan="off") as url:
            box = tidings.post("/mailboxes", {"name": "Support", "email": "s@example.com"})["id"]
            convo = {
                "type": "email",
                "mailboxId": box,
                "subject": "Help",
                "customer": {"email": "a@example.com"},
                "threads": [{"type": "customer", "text": "Hi"}],
            }
            gone, kept = (tidings.post("/conversations", convo)["id"] for _ in range(2))
            hook_made = tidings.post(
                "/webhooks", {"url": f"{url}/hook", "events": ["convo.deleted_forever"]}
            )
            inbox = Inbox(
                tmp_path / "inbox.sqlite3",
                hook_made["secret"],
                api_url=tidings.url,
                api_key=KEY,
                confirm_deletes=True,
                max_attempts=3,
                backoff=Backoff(base=timedelta(seconds=0.05), jitter=0),
            )
            holder["inbox"] = inbox
            inbox.on("convo.deleted_forever", lambda e: deleted.append(e.data["id"]))

            # A real deletion, delivered by the server.
            assert tidings.api.delete(f"/conversations/{gone}").status_code == 204
            wait_for("the delivery", lambda: inbox.counts()["pending"] == 1)
            # A deletion the server never announced (signed with the webhook's secret: a
            # misrouted or replayed message), about a conversation that still exists.
            still = tidings.api.get(f"/conversations/{kept}").json()
            inbox.accept(
                *delivery(
                    still,
                    event_id="evt_bogus",
                    event_type="convo.deleted_forever",
                    seq=None,
                    timestamp=datetime.now(UTC),
                    secrets=(hook_made["secret"],),
                )
            )

            assert inbox.process() == 2
            assert deleted == [gone]
            for _ in range(2):
                time.sleep(0.25)
                assert inbox.process() == 1
            (dead,) = inbox.dead_letters()
            inbox.close()
    assert deleted == [gone]  # never the one that exists
    assert (dead.event.id, dead.attempts) == ("evt_bogus", 3)
    assert dead.error == (
        f"DeleteNotConfirmed: conversation {kept} still exists (state 'published'):"
        f" GET /api/conversations/{kept} answered 200, not 404"
    )


def test_a_deletion_that_cannot_be_checked_waits(tmp_path: Path) -> None:
    """The API unreachable: the event is not handled, and is tried again."""
    from receiver_kit import SECRET, free_port

    deleted: list[Event] = []
    unreachable = f"http://127.0.0.1:{free_port()}"
    with Inbox(
        tmp_path / "inbox.sqlite3", SECRET, api_url=unreachable, api_key=KEY, confirm_deletes=True
    ) as inbox:
        inbox.on("*", deleted.append)
        inbox.accept(
            *delivery({"id": 5}, event_type="convo.deleted_forever", timestamp=datetime.now(UTC))
        )
        assert inbox.process() == 1
        assert inbox.counts() == {"pending": 1, "done": 0, "dead": 0}
    assert deleted == []
