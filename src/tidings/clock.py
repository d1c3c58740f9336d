"""The clock is an edge: injected everywhere so tests can control time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """FreeScout's date format: ``YYYY-MM-DDThh:mm:ssZ`` in UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
