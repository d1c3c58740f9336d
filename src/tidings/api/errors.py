"""Every error becomes FreeScout's error body, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

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


_INT64_MAX = 2**63 - 1


def _beyond_int64(value: object) -> bool:
    digits = str(value).lstrip("-")
    return digits.isascii() and digits.isdigit() and (len(digits) > 19 or int(digits) > _INT64_MAX)


def out_of_range(request: Request) -> TidingsError:
    """A value the database cannot hold (SQLite's OverflowError, PostgreSQL's
    DataError): an id in the path beyond 64 bits names no row (404); anything else
    is the client's input (400), naming the query parameter when one is to blame."""
    if any(_beyond_int64(v) for v in request.path_params.values()):
        return NotFound()
    for name, value in request.query_params.multi_items():
        if _beyond_int64(value):
            return InvalidInput.field(name, f"`{name}` is out of range", "query")
    return InvalidInput.field("body", "A value in the request is out of range")


# Where FastAPI found a parameter, as FreeScout's ``source`` says it.
_SOURCES = {"query": "query", "path": "path", "header": "header", "body": "JSON"}
# Pydantic's error types for the parameter types routes declare, and what they expect.
_EXPECTED = {
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_parsing": "a boolean",
    "float_parsing": "a number",
}


def validation_error(error: Any) -> FieldError:
    """One of FastAPI's parameter errors as a FreeScout field error, named the way the
    desk's own readers name theirs (``source: "query"`` for ``?page=x``)."""
    where, *rest = error["loc"]
    path = ".".join(str(p) for p in rest) or "body"
    expected = _EXPECTED.get(error["type"])
    message = f"`{path}` must be {expected}" if expected else str(error["msg"])
    return FieldError(path, message, _SOURCES.get(str(where), "JSON"))


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """RFC 9110's ``Allow`` for a 405: every method of the path (Starlette would name
    only the first route's, and FastAPI makes one route per method)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(TidingsError)
    async def _tidings(_: Request, exc: TidingsError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return error_response(InvalidInput(errors=[validation_error(e) for e in exc.errors()]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            answer = error_response(MethodNotAllowed())
            answer.headers["Allow"] = allowed_methods(request)
            return answer
        if exc.status_code == 404:
            return error_response(NotFound())
        err = TidingsError(str(exc.detail))
        err.status = exc.status_code
        return error_response(err)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> Response:
        log.info("value out of range for the database: %s", exc)
        return error_response(out_of_range(request))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(TidingsError())
