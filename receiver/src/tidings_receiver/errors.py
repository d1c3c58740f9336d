"""Every error the receiver raises, in one tree::

    ReceiverError
    ├── VerificationError       a delivery that must be refused (answer 400)
    │   ├── MissingHeader       a header the check needs is absent or empty
    │   ├── BadTimestamp        webhook-timestamp unparseable, too old or in the future
    │   └── BadSignature        no signature matches the exact bytes received
    ├── ApiError                the Tidings API answered something unexpected, or not at all
    └── DeleteNotConfirmed      a convo.deleted_forever whose conversation still exists

Each verification error says which check failed, so a receiver can log it and a sender's
delivery log shows it (the adapters answer ``{"error": <class name>, "message": ...}``).
"""

from __future__ import annotations


class ReceiverError(Exception):
    """Anything this package raises on purpose."""


class VerificationError(ReceiverError):
    """The delivery is not authentic (or not fresh): refuse it."""

    status_code = 400


class MissingHeader(VerificationError):
    def __init__(self, name: str) -> None:
        super().__init__(f"the {name} header is missing")
        self.header = name


class BadTimestamp(VerificationError):
    """``webhook-timestamp`` is not Unix seconds, or too far from this clock (a replay)."""


class BadSignature(VerificationError):
    """No signature in the header matches the body."""


class ApiError(ReceiverError):
    """A call to the Tidings API failed; ``status`` is ``None`` when no answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DeleteNotConfirmed(ReceiverError):
    """``GET /api/conversations/{id}`` still finds a conversation announced as deleted
    forever, or could not be asked."""


def refusal(exc: VerificationError) -> dict[str, str]:
    """The body the adapters answer a refused delivery with (status ``exc.status_code``)."""
    return {"error": type(exc).__name__, "message": str(exc)}
