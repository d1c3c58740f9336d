"""One exception hierarchy; the HTTP status lives on the class.

    TidingsError                500  something we did not expect
     ├── InvalidInput           400  FreeScout's "Error occurred" with per-field errors
     ├── NotAuthorized          401  missing or wrong API key
     ├── NotFound               404  unknown id
     ├── MethodNotAllowed       405
     ├── ConfirmationRequired   409  destructive operation without a valid confirm token
     ├── Conflict               409  the entity's state forbids it (a disabled webhook's test)
     ├── PayloadTooLarge        413  body over ``max_body_bytes``
     └── UnsupportedMediaType   415  body that is not JSON where JSON is required

The API turns every one of them into FreeScout's error body in one handler
(``tidings.api.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    message: str
    source: str = "JSON"


class TidingsError(Exception):
    status = 500
    message = "Internal Server Error"

    def __init__(self, message: str | None = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(message or self.message)
        if message is not None:
            self.message = message
        self.errors = errors or []


class InvalidInput(TidingsError):
    status = 400
    message = "Error occurred"

    @classmethod
    def field(cls, path: str, message: str, source: str = "JSON") -> InvalidInput:
        return cls(errors=[FieldError(path, message, source)])


class NotAuthorized(TidingsError):
    status = 401
    message = "Not Authorized"


class NotFound(TidingsError):
    status = 404
    message = "Not Found"


class MethodNotAllowed(TidingsError):
    status = 405
    message = "Method Not Allowed"


class ConfirmationRequired(TidingsError):
    status = 409
    message = "Confirmation required"


class Conflict(TidingsError):
    status = 409
    message = "Conflict"


class PayloadTooLarge(TidingsError):
    status = 413
    message = "Payload Too Large"


class UnsupportedMediaType(TidingsError):
    status = 415
    message = "Unsupported Media Type"
