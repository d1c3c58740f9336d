"""The console's webhook pages, their pure parts: the health badge, the events summary and
the forms read as the API's bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tidings.console.web import Form
from tidings.console.webhook_views import badge, body_of, events_summary, local_input, replay_body
from tidings.errors import InvalidInput


def hook(*, enabled: bool = True, status: str = "healthy", lagging: bool = False) -> Any:
    return {
        "enabled": enabled,
        "health": {
            "status": status,
            "consecutiveFailures": 6 if status == "failing" else 0,
            "laggingSince": "2026-12-06T09:00:00Z" if lagging else None,
            "disabledReason": None if enabled else "the receiver answered 410 Gone",
        },
    }


@pytest.mark.parametrize(
    ("found", "key", "why"),
    [
        (hook(), "healthy", "delivering"),
        (hook(lagging=True), "lagging", "its oldest undelivered event is overdue"),
        (hook(status="failing"), "failing", "6 failures in a row"),
        (hook(status="failing", lagging=True), "failing", "6 failures in a row"),
        (
            hook(enabled=False, status="disabled", lagging=True),
            "disabled",
            "the receiver answered 410 Gone",
        ),
    ],
)
def test_the_worst_state_wins_the_badge(found: Any, key: str, why: str) -> None:
    shown = badge(found)
    assert (shown.key, shown.why) == (key, why)


def test_events_summary() -> None:
    assert events_summary(["*"]) == "every event"
    assert events_summary(["a", "b"]) == "a, b"
    assert events_summary(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"


def test_a_form_reads_as_the_apis_body() -> None:
    form = Form({"url": [" https://x.test/h "], "events": ["a", " ", "b"], "mailboxes": ["2"]})
    assert body_of(form) == {"url": "https://x.test/h", "events": ["a", "b"], "mailboxes": [2]}
    assert body_of(Form({})) == {"events": [], "mailboxes": []}
    with pytest.raises(InvalidInput) as refused:
        body_of(Form({"mailboxes": ["two"]}))
    assert refused.value.errors[0].path == "mailboxes"


def test_a_replay_form_names_a_utc_time_and_known_statuses() -> None:
    since, statuses = replay_body(
        Form({"since": ["2026-12-01T08:30"], "status": ["failed", "lost", "failed", "skipped"]})
    )
    assert since == datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert statuses == ["failed", "skipped"]
    assert local_input(since) == "2026-12-01T08:30"
    for fields, path in (
        ({"status": ["failed"]}, "since"),
        ({"since": ["yesterday"], "status": ["failed"]}, "since"),
        ({"since": ["2026-12-01T08:30"], "status": ["lost"]}, "status"),
    ):
        with pytest.raises(InvalidInput) as refused:
            replay_body(Form(fields))
        assert refused.value.errors[0].path == path
