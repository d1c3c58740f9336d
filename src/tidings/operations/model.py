"""What an operation is: its status, its row as a typed value, its JSON (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tidings.clock import isoformat


class OperationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self in FINISHED


ACTIVE = frozenset({OperationStatus.QUEUED, OperationStatus.RUNNING})
FINISHED = frozenset(
    {
        OperationStatus.COMPLETED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
    }
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One row of ``operations`` (see ``tidings.db.schema``)."""

    id: str
    action: str
    status: OperationStatus
    selection: dict[str, Any]
    params: dict[str, Any]
    by_user_id: int | None
    atomic: bool
    timeout_seconds: int | None
    total: int
    processed: int
    succeeded: int
    failed: int
    digest: str | None
    error: str | None
    cancel_requested: bool
    lease_owner: str | None
    lease_until: datetime | None
    last_progress_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_position: int  # items before it are done (``schema.operation_items``)

    @classmethod
    def from_row(cls, row: Any) -> Operation:
        values = dict(row._mapping)
        values["status"] = OperationStatus(values["status"])
        return cls(**values)

    def overdue(self, now: datetime) -> bool:
        """Running longer than its ``timeoutSeconds``."""
        return bool(
            self.timeout_seconds
            and self.started_at
            and (now - self.started_at).total_seconds() > self.timeout_seconds
        )

    def to_json(self) -> dict[str, Any]:
        """The API's and the ``operation.*`` events' shape."""
        return {
            "id": self.id,
            "action": self.action,
            "status": str(self.status),
            "total": self.total,
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "createdAt": isoformat(self.created_at),
            "startedAt": isoformat(self.started_at),
            "finishedAt": isoformat(self.finished_at),
            "error": self.error,
            "atomic": self.atomic,
            "timeoutSeconds": self.timeout_seconds,
            "byUser": self.by_user_id,
            "params": self.params,
            "digest": self.digest,
        }
