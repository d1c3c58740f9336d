"""Small, pure readers of JSON input that raise FreeScout-style field errors.

An error names the field by its full path in the body (``customer.email``,
``threads[0].text``, ``params.status``): ``path`` when the value is nested, else ``key``.
A value of the wrong type says what it must be; FreeScout's "parameter is required" is
kept for a value that is missing or empty (FreeScout checks with PHP's ``empty()``).
Body fields have ``source: "JSON"``; the query-string readers are in ``tidings.api.params``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from tidings.desk import enums
from tidings.errors import InvalidInput

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def at(prefix: str, key: str) -> str:
    """The path of ``key`` in the object at ``prefix`` (``""``: the body itself)."""
    return f"{prefix}.{key}" if prefix else key


def required(path: str, source: str = "JSON") -> InvalidInput:
    return InvalidInput.field(path, f"`{path}` parameter is required", source)


def wrong(path: str, what: str, source: str = "JSON") -> InvalidInput:
    """``path`` holds a value of the wrong type or form; ``what`` it must be."""
    return InvalidInput.field(path, f"`{path}` must be {what}", source)


def text(
    body: dict[str, Any], key: str, *, max_len: int | None = None, path: str | None = None
) -> str | None:
    value = body.get(key)
    name = path or key
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong(name, "a string")
    if max_len is not None and len(value) > max_len:
        raise InvalidInput.field(name, f"`{name}` may not be longer than {max_len} characters")
    return value


def required_text(
    body: dict[str, Any], key: str, *, max_len: int | None = None, path: str | None = None
) -> str:
    value = text(body, key, max_len=max_len, path=path)
    if value is None or value == "":
        raise required(path or key)
    return value


def integer(body: dict[str, Any], key: str, *, path: str | None = None) -> int | None:
    value = body.get(key)
    name = path or key
    if value is None:
        return None
    if isinstance(value, bool):
        raise wrong(name, "an integer")
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # what the database can hold
            raise InvalidInput.field(name, f"`{name}` is out of range")
        return value
    raise wrong(name, "an integer")


def required_int(body: dict[str, Any], key: str, *, path: str | None = None) -> int:
    value = integer(body, key, path=path)
    if value is None:
        raise required(path or key)
    return value


def boolean(
    body: dict[str, Any], key: str, default: bool = False, *, path: str | None = None
) -> bool:
    value = body.get(key, default)
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise wrong(path or key, "a boolean")


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
        raise wrong(name, "a list of strings")
    return list(value)


def object_list(body: dict[str, Any], key: str, what: str, *, path: str | None = None) -> list[Any]:
    """A list (of objects, checked one by one by the caller); ``[]`` when missing."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise wrong(path or key, f"a list of {what}")
    return value


def date(value: Any, name: str, source: str = "JSON") -> datetime:
    if not isinstance(value, str):
        raise wrong(name, "an ISO 8601 date", source)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)  # stored in UTC: 0001-01-01T00:00+01:00 has no UTC value
    except (ValueError, OverflowError):
        raise wrong(name, "an ISO 8601 date", source) from None
    return parsed


def obj(body: dict[str, Any], key: str, *, path: str | None = None) -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise wrong(path or key, "an object")
    return value
