"""The few Tidings API calls the receiver makes, over one kept-alive connection (standard
library only).

- ``GET /api/events?after=&limit=&type=``: the event log, to fill a gap;
- ``GET /api/webhooks/{id}``: what a webhook subscribes to;
- ``GET /api/conversations/{id}``: whether a conversation exists (delete confirmation) and
  its current state (reconciliation);
- ``GET /api/conversations/digest``: the reconciliation digest.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from tidings_receiver.errors import ApiError

PAGE = 1000  # the largest page GET /api/events serves


class Client:
    def __init__(self, api_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(api_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"api_url must be an http(s) URL, not {api_url!r}")
        self._parts = parts
        self._prefix = parts.path if parts.path.endswith("/api") else parts.path + "/api"
        self._key = api_key
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    # --- the calls -----------------------------------------------------------------------

    def events(self, after: int, types: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every event after position ``after``, following the cursor to the current end."""
        cursor = str(after)
        while True:
            params = {"after": cursor, "limit": PAGE, "type": ",".join(types) if types else None}
            page = self.get("/events", params)
            yield from page["_embedded"]["events"]
            cursor = str(page["cursor"]["next"])
            if not page["cursor"]["hasMore"]:
                return

    def webhook(self, webhook_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/webhooks/{webhook_id}")
        return found

    def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        """The conversation, or ``None`` when the server answers 404."""
        status, body = self.request(f"/conversations/{conversation_id}")
        if status == 404:
            return None
        return dict(_json(status, body, f"/conversations/{conversation_id}"))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        status, body = self.request(path, params)
        return _json(status, body, path)

    # --- HTTP ----------------------------------------------------------------------------

    def request(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None})
        target = f"{self._prefix}{path}" + (f"?{query}" if query else "")
        headers = {"X-FreeScout-API-Key": self._key, "Accept": "application/json"}
        with self._lock:
            # A kept-alive connection the server closed fails on first use: try once more.
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    conn.request("GET", target, headers=headers)
                    response = conn.getresponse()
                    return response.status, response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.close()
                    if attempt == 2:
                        raise ApiError(f"GET {target}: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = kind(self._parts.hostname or "", self._parts.port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _json(status: int, body: bytes, path: str) -> Any:
    if status != 200:
        raise ApiError(f"GET {path} answered {status}: {body[:200]!r}", status)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ApiError(f"GET {path} answered 200 with a body that is not JSON", status) from exc
