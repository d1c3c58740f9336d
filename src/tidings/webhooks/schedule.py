"""What an attempt's outcome means, and when the next one is due (pure policy).

- 2xx: delivered. 410 Gone: the receiver asked to stop: the webhook is disabled at once.
  Anything else (3xx, 4xx, 5xx, a timeout, a refused connection) is a failure.
- After a failure the next attempt follows the schedule: by default Standard Webhooks'
  (immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), with +-20% jitter so that
  the deliveries that failed together do not come back together. After the last step the
  delivery has failed for good (it can still be redelivered by hand).
- A ``Retry-After`` is honoured up to ``MAX_RETRY_AFTER_SECONDS``, never sooner than the
  schedule; a 429 waits at least ``THROTTLED_SECONDS``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

# Seconds before each attempt: the first is sent at once.
DEFAULT_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2
THROTTLED_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 6 * 3600.0


class Verdict(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # try again, if the schedule has a step left
    GONE = "gone"  # 410: disable the webhook


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: an HTTP status, or an error before any (``status`` None)."""

    status: int | None
    retry_after: float | None = None  # seconds, from the response's Retry-After

    @property
    def verdict(self) -> Verdict:
        if self.status is not None and 200 <= self.status < 300:
            return Verdict.DELIVERED
        if self.status == 410:
            return Verdict.GONE
        return Verdict.FAILED


def parse_schedule(text: str) -> tuple[float, ...]:
    """``TIDINGS_RETRY_SCHEDULE``: seconds before each attempt, comma-separated."""
    steps = tuple(float(part) for part in text.split(",") if part.strip())
    if not steps or any(step < 0 for step in steps):
        raise ValueError("a retry schedule is one or more non-negative numbers of seconds")
    return steps


def next_delay(
    attempts: int,
    last: Attempt,
    schedule: Sequence[float] = DEFAULT_SCHEDULE,
    jitter: Callable[[], float] = random.random,
) -> float | None:
    """Seconds from the end of attempt number ``attempts`` (1-based) until the next one;
    None when there is to be none (delivered, gone, or the schedule is used up)."""
    if last.verdict is not Verdict.FAILED or attempts >= len(schedule):
        return None
    delay = schedule[attempts] * (1 - JITTER + 2 * JITTER * jitter())
    if last.status == 429:
        delay = max(delay, THROTTLED_SECONDS)
    if last.retry_after is not None:
        delay = max(delay, min(last.retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay
