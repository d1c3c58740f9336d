"""Every error becomes FreeScout's error body, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tidings.api.responses import JSON
from tidings.errors import (
    FieldError,
    InvalidInput,
    MethodNotAllowed,
    NotAuthorized,
    NotFound,
    TidingsError,
)

log = logging.getLogger("tidings.api")


def error_body(exc: TidingsError) -> Any:
    if isinstance(exc, NotAuthorized):
        return {"message": exc.message}
    if isinstance(exc, MethodNotAllowed):
        return exc.message
    return {
        "message": exc.message,
        "_embedded": {
            "errors": [
                {"path": e.path, "message": e.message, "source": e.source} for e in exc.errors
            ]
        },
    }


def error_response(exc: TidingsError) -> Response:
    return JSON(error_body(exc), status_code=exc.status)


def install(app: FastAPI) -> None:
    @app.exception_handler(TidingsError)
    async def _tidings(_: Request, exc: TidingsError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            FieldError(".".join(str(p) for p in e["loc"][1:]) or "body", str(e["msg"]), "JSON")
            for e in exc.errors()
        ]
        return error_response(InvalidInput(errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return error_response(MethodNotAllowed())
        if exc.status_code == 404:
            return error_response(NotFound())
        err = TidingsError(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(TidingsError())
