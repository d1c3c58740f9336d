"""Django: a view that accepts deliveries into an inbox.

    urlpatterns = [path("tidings", view(inbox))]
    inbox.start()  # e.g. in an AppConfig.ready(): runs the handlers in a worker thread

CSRF-exempt (the signature is the authentication) and POST only. Answers 204 once the
delivery is stored, 400 ``{"error": "BadSignature", "message": ...}`` when it does not
verify (the sender retries it), 500 if it could not be stored. Django refuses bodies over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB): a conversation with many threads can be larger,
so raise it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.http import HttpResponse, JsonResponse  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]
from django.views.decorators.http import require_POST  # type: ignore[import-untyped]

from tidings_receiver.errors import VerificationError, refusal
from tidings_receiver.inbox import Inbox

View = Callable[[Any], Any]


def view(inbox: Inbox) -> View:
    def receive_tidings(request: Any) -> Any:
        try:
            inbox.accept(request.body, request.headers)
        except VerificationError as exc:
            return JsonResponse(refusal(exc), status=exc.status_code)
        return HttpResponse(status=204)

    return cast(View, csrf_exempt(require_POST(receive_tidings)))
