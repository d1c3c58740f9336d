"""Starlette and FastAPI: an endpoint that accepts deliveries into an inbox.

    app = Starlette(
        routes=[Route("/tidings", endpoint(inbox), methods=["POST"])],
        lifespan=lifespan(inbox),  # runs the handlers in a worker thread
    )

FastAPI: ``app.add_api_route("/tidings", endpoint(inbox), methods=["POST"])``. Answers 204
once the delivery is stored, 400 ``{"error": "BadSignature", "message": ...}`` when it does
not verify (the sender retries it), 500 if it could not be stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tidings_receiver.errors import VerificationError, refusal
from tidings_receiver.inbox import Inbox


def endpoint(inbox: Inbox) -> Callable[[Request], Awaitable[Response]]:
    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            await inbox.accept_async(body, request.headers)
        except VerificationError as exc:
            return JSONResponse(refusal(exc), status_code=exc.status_code)
        return Response(status_code=204)

    return receive


def lifespan(inbox: Inbox) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan that runs ``inbox``'s worker while the app runs."""

    @asynccontextmanager
    async def running(app: Any) -> AsyncIterator[None]:
        inbox.start()
        try:
            yield
        finally:
            await run_in_threadpool(inbox.stop)

    return running
