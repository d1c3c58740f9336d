"""tidings.webhooks.schedule: verdicts and the time to the next attempt."""

from __future__ import annotations

import pytest

from tidings.webhooks.schedule import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER_SECONDS,
    THROTTLED_SECONDS,
    Attempt,
    Verdict,
    next_delay,
    parse_schedule,
)


def middle() -> float:
    return 0.5  # no jitter


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (299, Verdict.DELIVERED),
        (301, Verdict.FAILED),  # redirects are not followed: a failure
        (302, Verdict.FAILED),
        (400, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.GONE),
        (429, Verdict.FAILED),
        (500, Verdict.FAILED),
        (503, Verdict.FAILED),
        (None, Verdict.FAILED),  # a timeout, a refused connection
        (199, Verdict.FAILED),
    ],
)
def test_verdicts(status: int | None, verdict: Verdict) -> None:
    assert Attempt(status).verdict is verdict


def test_the_default_schedule_is_standard_webhooks() -> None:
    failed = Attempt(500)
    delays = [next_delay(n, failed, jitter=middle) for n in range(1, 9)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert sum(DEFAULT_SCHEDULE) == 99305  # ~27.6 hours from the first attempt to the last


def test_jitter_is_twenty_percent_either_way() -> None:
    failed = Attempt(None)
    assert next_delay(2, failed, jitter=lambda: 0.0) == pytest.approx(240)
    assert next_delay(2, failed, jitter=lambda: 1.0) == pytest.approx(360)


@pytest.mark.parametrize("status", [200, 201, 410])
def test_nothing_follows_a_delivery_or_a_410(status: int) -> None:
    assert next_delay(1, Attempt(status), jitter=middle) is None


def test_429_waits_at_least_a_minute() -> None:
    assert next_delay(1, Attempt(429), jitter=middle) == THROTTLED_SECONDS
    assert next_delay(3, Attempt(429), jitter=middle) == 1800  # the schedule is longer


def test_retry_after_is_honoured_within_bounds() -> None:
    assert next_delay(1, Attempt(503, retry_after=120), jitter=middle) == 120
    # Never sooner than the schedule ...
    assert next_delay(3, Attempt(503, retry_after=10), jitter=middle) == 1800
    # ... and never later than the cap.
    far = Attempt(503, retry_after=10 * 24 * 3600)
    assert next_delay(1, far, jitter=middle) == MAX_RETRY_AFTER_SECONDS


def test_a_custom_schedule() -> None:
    schedule = parse_schedule("0, 1,2")
    assert schedule == (0, 1, 2)
    assert [next_delay(n, Attempt(500), schedule, middle) for n in (1, 2, 3)] == [1, 2, None]


@pytest.mark.parametrize("text", ["", ",", "5,-1", "soon"])
def test_bad_schedules_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (the message is the setting's docs)
        parse_schedule(text)


def test_retry_after_headers_as_receivers_send_them() -> None:
    from datetime import UTC, datetime

    from tidings.webhooks.sender import retry_after

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120
    assert retry_after(" 7 ", now) == 7
    assert retry_after("Sun, 06 Dec 2026 12:01:00 GMT", now) == 60
    assert retry_after("Sun, 06 Dec 2026 12:01:00 -0000", now) == 60  # no zone: UTC
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0  # past
    for junk in (None, "", "soon", "\u00b2", "-5", "1.5e9", "Sun, 99 Foo 2026"):
        assert retry_after(junk, now) is None
