"""FreeScout's enumerations: strings at the API, integers in storage (reference 1.4)."""

from __future__ import annotations

from enum import IntEnum


class ConversationType(IntEnum):
    EMAIL = 1
    PHONE = 2
    CHAT = 3
    CUSTOM = 4


class Status(IntEnum):
    ACTIVE = 1
    PENDING = 2
    CLOSED = 3
    SPAM = 4
    NOCHANGE = 6


class State(IntEnum):
    DRAFT = 1
    PUBLISHED = 2
    DELETED = 3


class SourceType(IntEnum):
    EMAIL = 1
    WEB = 2
    API = 3


class Via(IntEnum):
    CUSTOMER = 1
    USER = 2


class ThreadType(IntEnum):
    CUSTOMER = 1
    MESSAGE = 2
    NOTE = 3
    LINEITEM = 4
    CHAT = 8


class ThreadState(IntEnum):
    DRAFT = 1
    PUBLISHED = 2
    HIDDEN = 3
    REVIEW = 4


class Action(IntEnum):
    STATUS_CHANGED = 1
    USER_CHANGED = 2
    MOVED_FROM_MAILBOX = 3
    MERGED = 4
    IMPORTED = 5
    IMPORTED_EXTERNAL = 6
    CUSTOMER_CHANGED = 7
    DELETED = 10
    RESTORED = 11


class FolderType(IntEnum):
    UNASSIGNED = 1
    MINE = 20
    STARRED = 25
    DRAFTS = 30
    ASSIGNED = 40
    CLOSED = 60
    DELETED = 70
    SPAM = 80


class Role(IntEnum):
    USER = 1
    ADMIN = 2


class EmailType(IntEnum):
    WORK = 1
    HOME = 2
    OTHER = 3


ACTION_NAMES = {
    Action.STATUS_CHANGED: "changed-ticket-status",
    Action.USER_CHANGED: "changed-ticket-assignee",
    Action.MOVED_FROM_MAILBOX: "moved-from-mailbox",
    Action.MERGED: "merged",
    Action.IMPORTED: "imported",
    Action.IMPORTED_EXTERNAL: "imported-external",
    Action.CUSTOMER_CHANGED: "changed-ticket-customer",
    Action.DELETED: "deleted-ticket",
    Action.RESTORED: "restore-ticket",
}

PHONE_TYPES = ("work", "home", "other", "mobile", "fax", "pager")
PHOTO_TYPES = (
    "unknown",
    "gravatar",
    "twitter",
    "facebook",
    "googleprofile",
    "googleplus",
    "linkedin",
    "vk",
)

# Conversation statuses a client may set (nochange is a thread-only value).
CONVERSATION_STATUSES = (Status.ACTIVE, Status.PENDING, Status.CLOSED, Status.SPAM)


def name_of(value: int | None, enum: type[IntEnum], default: str | None = None) -> str | None:
    """The lower-case API name of a stored integer; unknown values fall back to ``default``."""
    if value is None:
        return default
    try:
        return enum(value).name.lower()
    except ValueError:
        return default


def parse(name: object, enum: type[IntEnum], allowed: tuple[IntEnum, ...] | None = None) -> int:
    """The stored integer for an API name; ``ValueError`` names the allowed values."""
    choices = allowed or tuple(enum)
    if isinstance(name, str):
        for member in choices:
            if member.name.lower() == name.lower():
                return int(member)
    allowed_names = ", ".join(m.name.lower() for m in choices)
    raise ValueError(f"must be one of: {allowed_names}")
