"""When a failing event is tried again, and when it is given up (pure).

An event's attempt ``n`` (1, 2, ...) that fails is tried again after
``base * factor ** (n - 1)``, at most ``cap``, each delay moved by up to ``jitter`` either
way so that events that failed together do not all come back together. After
``max_attempts`` attempts it becomes a dead letter. With the defaults (2 s doubling, 8
attempts) an event is given up about 4 minutes after its first failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Backoff:
    base: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    cap: timedelta = timedelta(minutes=10)
    jitter: float = 0.2

    def delay(self, attempt: int, rand: float) -> timedelta:
        """The wait after failed attempt ``attempt`` (1-based); ``rand`` in [0, 1)."""
        exponent = min(max(attempt - 1, 0), 64)  # the cap applies long before
        seconds = min(self.base.total_seconds() * self.factor**exponent, self.cap.total_seconds())
        return timedelta(seconds=seconds * (1 + self.jitter * (2 * rand - 1)))


@dataclass(frozen=True, slots=True)
class Retry:
    at: datetime


@dataclass(frozen=True, slots=True)
class GiveUp:
    pass


def after_failure(
    attempt: int, max_attempts: int, backoff: Backoff, now: datetime, rand: float
) -> Retry | GiveUp:
    """What follows failed attempt ``attempt``."""
    if attempt >= max_attempts:
        return GiveUp()
    return Retry(now + backoff.delay(attempt, rand))
