"""Flask: a view that accepts deliveries into an inbox.

    app.add_url_rule("/tidings", view_func=view(inbox), methods=["POST"])
    inbox.start()  # runs the handlers in a worker thread

Answers 204 once the delivery is stored, 400 ``{"error": "BadSignature", "message": ...}``
when it does not verify (the sender retries it), 500 if it could not be stored.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import request
from flask.typing import ResponseReturnValue

from tidings_receiver.errors import VerificationError, refusal
from tidings_receiver.inbox import Inbox


def view(inbox: Inbox) -> Callable[[], ResponseReturnValue]:
    def receive_tidings() -> ResponseReturnValue:
        body = request.get_data(cache=False)
        try:
            inbox.accept(body, dict(request.headers.items()))
        except VerificationError as exc:
            return refusal(exc), exc.status_code
        return "", 204

    return receive_tidings
