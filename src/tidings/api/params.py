"""Query-string readers shared by the list endpoints; their errors have ``source: "query"``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum

from tidings.desk import enums
from tidings.desk import validate as v
from tidings.desk.queries import Page
from tidings.errors import InvalidInput

INT64 = 2**63 - 1


def invalid(name: str, message: str) -> InvalidInput:
    """FreeScout's 400 for the query parameter ``name``."""
    return InvalidInput.field(name, message, "query")


def integer(query: Mapping[str, str], name: str, *, empty_ok: bool = True) -> int | None:
    """An integer query parameter; 400 for anything that is not a 64-bit integer."""
    raw = query.get(name)
    if raw is None or (raw == "" and empty_ok):
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise invalid(name, f"`{name}` must be an integer") from None
    if not -INT64 - 1 <= value <= INT64:
        raise invalid(name, f"`{name}` is out of range")
    return value


def documented(*names: tuple[str, str, str]) -> dict[str, object]:
    """``openapi_extra`` describing query parameters a route reads itself.

    Routes with many optional filters read ``request.query_params`` directly: FastAPI's
    per-parameter validation cost more than the database work of a list page.
    """
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": kind},
                **({"description": text} if text else {}),
            }
            for name, kind, text in names
        ]
    }


def page(number: int | None, size: int | None, max_size: int) -> Page:
    number = 1 if number is None else number
    size = 50 if size is None else size
    if number < 1:
        raise invalid("page", "`page` must be 1 or more")
    if size < 1 or size > max_size:
        raise invalid("pageSize", f"`pageSize` must be between 1 and {max_size}")
    if number > INT64:
        raise invalid("page", "`page` is out of range")
    return Page(number, size)


def id_list(value: str | None, name: str) -> list[int] | None:
    if value is None or value == "":
        return None
    try:
        ids = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise invalid(name, f"`{name}` must be an id or a comma-separated list of ids") from None
    if any(not -INT64 - 1 <= i <= INT64 for i in ids):
        raise invalid(name, f"`{name}` is out of range")
    return ids


def enum_list(
    value: str | None, name: str, enum: type[IntEnum], allowed: tuple[IntEnum, ...] | None = None
) -> list[int] | None:
    if not value:
        return None
    try:
        return [
            enums.parse(part.strip(), enum, allowed) for part in value.split(",") if part.strip()
        ]
    except ValueError as exc:
        raise invalid(name, f"`{name}` {exc}") from None


def one_enum(
    value: str | None, name: str, enum: type[IntEnum], allowed: tuple[IntEnum, ...] | None = None
) -> int | None:
    found = enum_list(value, name, enum, allowed)
    if found and len(found) > 1:
        raise invalid(name, f"`{name}` takes one value")
    return found[0] if found else None


def date(value: str | None, name: str) -> datetime | None:
    return None if value is None else v.date(value, name, "query")


def sort(field: str | None, order: str | None, allowed: Mapping[str, object]) -> tuple[str, bool]:
    field = field or "createdAt"
    if field not in allowed:
        raise invalid("sortField", f"`sortField` must be one of: {', '.join(allowed)}")
    order = (order or "desc").lower()
    if order not in ("asc", "desc"):
        raise invalid("sortOrder", "`sortOrder` must be asc or desc")
    return field, order == "desc"


def embeds(value: str | None) -> set[str] | None:
    if value is None:
        return None
    parts = {p.strip() for p in value.split(",") if p.strip()}
    unknown = parts - {"threads", "timelogs", "tags"}
    if unknown:
        raise invalid("embed", "`embed` may list threads, timelogs, tags")
    return parts
