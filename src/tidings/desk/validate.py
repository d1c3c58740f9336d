"""Small, pure readers of JSON input that raise FreeScout-style field errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from tidings.desk import enums
from tidings.errors import InvalidInput

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def text(
    body: dict[str, Any], key: str, *, max_len: int | None = None, path: str | None = None
) -> str | None:
    value = body.get(key)
    name = path or key
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput.field(name, f"`{name}` must be a string")
    if max_len is not None and len(value) > max_len:
        raise InvalidInput.field(name, f"`{name}` may not be longer than {max_len} characters")
    return value


def required_text(body: dict[str, Any], key: str, *, max_len: int | None = None) -> str:
    value = text(body, key, max_len=max_len)
    if value is None or value == "":
        raise InvalidInput.field(key, f"`{key}` parameter is required")
    return value


def integer(body: dict[str, Any], key: str, *, path: str | None = None) -> int | None:
    value = body.get(key)
    name = path or key
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput.field(name, f"`{name}` must be an integer")
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # what the database can hold
            raise InvalidInput.field(name, f"`{name}` is out of range")
        return value
    raise InvalidInput.field(name, f"`{name}` must be an integer")


def required_int(body: dict[str, Any], key: str) -> int:
    value = integer(body, key)
    if value is None:
        raise InvalidInput.field(key, f"`{key}` parameter is required")
    return value


def boolean(
    body: dict[str, Any], key: str, default: bool = False, *, path: str | None = None
) -> bool:
    value = body.get(key, default)
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    name = path or key
    raise InvalidInput.field(name, f"`{name}` must be a boolean")


def enum_value(
    body: dict[str, Any],
    key: str,
    enum: type[IntEnum],
    allowed: tuple[IntEnum, ...] | None = None,
    *,
    path: str | None = None,
) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return enums.parse(value, enum, allowed)
    except ValueError as exc:
        name = path or key
        raise InvalidInput.field(name, f"`{name}` {exc}") from None


def string_list(body: dict[str, Any], key: str, *, path: str | None = None) -> list[str]:
    value = body.get(key)
    name = path or key
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput.field(name, f"`{name}` must be a list of strings")
    return list(value)


def date(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput.field(name, f"`{name}` must be an ISO 8601 date", "query")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)  # stored in UTC: 0001-01-01T00:00+01:00 has no UTC value
    except (ValueError, OverflowError):
        raise InvalidInput.field(name, f"`{name}` must be an ISO 8601 date", "query") from None
    return parsed


def obj(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput.field(key, f"`{key}` must be an object")
    return value
