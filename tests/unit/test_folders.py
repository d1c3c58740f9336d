"""tidings.desk.folders.folder_type_for: FreeScout's Conversation::updateFolder priority."""

from __future__ import annotations

import itertools

import pytest

from tidings.desk.enums import FolderType, State, Status
from tidings.desk.folders import folder_type_for

STATUSES = (Status.ACTIVE, Status.PENDING, Status.CLOSED, Status.SPAM)
USERS = (None, 0, 7)


@pytest.mark.parametrize(("status", "user"), list(itertools.product(STATUSES, USERS)))
def test_draft_wins_over_everything(status: int, user: int | None) -> None:
    assert folder_type_for(State.DRAFT, status, user) == FolderType.DRAFTS


@pytest.mark.parametrize(("status", "user"), list(itertools.product(STATUSES, USERS)))
def test_deleted_wins_over_status_and_assignee(status: int, user: int | None) -> None:
    assert folder_type_for(State.DELETED, status, user) == FolderType.DELETED


@pytest.mark.parametrize("user", USERS)
def test_spam_then_closed_regardless_of_assignee(user: int | None) -> None:
    assert folder_type_for(State.PUBLISHED, Status.SPAM, user) == FolderType.SPAM
    assert folder_type_for(State.PUBLISHED, Status.CLOSED, user) == FolderType.CLOSED


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.PENDING])
def test_open_conversations_by_assignee(status: int) -> None:
    assert folder_type_for(State.PUBLISHED, status, 7) == FolderType.ASSIGNED
    assert folder_type_for(State.PUBLISHED, status, None) == FolderType.UNASSIGNED
    assert folder_type_for(State.PUBLISHED, status, 0) == FolderType.UNASSIGNED


def test_accepts_plain_integers() -> None:
    assert folder_type_for(2, 1, None) == FolderType.UNASSIGNED
    assert folder_type_for(3, 1, None) == FolderType.DELETED
    assert int(FolderType.DELETED) == 70
