"""How the console shows times, durations, counts and payloads (pure).

Times are relative ("3 min ago") because an operator asks "how long ago", with the exact
UTC time one hover away (``title``) because an incident report needs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from markupsafe import Markup

_UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def parse_time(value: datetime | str | None) -> datetime | None:
    """A datetime from one, or from the API's ``2026-12-06T09:15:03Z`` strings."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def exact(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(then: datetime, now: datetime) -> str:
    """``just now``, ``42 s ago``, ``3 min ago``, ``2 h ago``, ``5 d ago``; ``in 4 min``."""
    seconds = (now - then).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    amount, unit = next((int(seconds // size), unit) for size, unit in _UNITS if seconds >= size)
    return f"in {amount} {unit}" if ahead else f"{amount} {unit} ago"


def when(value: datetime | str | None, now: datetime) -> Markup:
    """A ``<time>`` element: relative text, the exact UTC time on hover."""
    moment = parse_time(value)
    if moment is None:
        return Markup('<span class="muted">never</span>')
    iso = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso, exact(moment), relative(moment, now)
    )


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``; an empty string for None."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def between(start: datetime | str | None, end: datetime | str | None, now: datetime) -> str:
    """How long from ``start`` to ``end`` (or to now, while it runs)."""
    began = parse_time(start)
    if began is None:
        return ""
    return duration(((parse_time(end) or now) - began).total_seconds())


def percent(done: int, total: int) -> int:
    """Whole percent done; a selection of nothing is done."""
    if total <= 0:
        return 100
    return min(100, done * 100 // total)


def pretty_json(value: Any) -> str:
    """Indented JSON, keys in the order the server wrote them."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def count(n: int) -> str:
    """``1,234``: thousands separated."""
    return f"{n:,}"
