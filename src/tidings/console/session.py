"""The console's session cookie and CSRF tokens (pure: no I/O, the time is passed in).

The console signs in with the API key, but never stores it in the browser: the cookie holds
an expiry and a random session id, signed with HMAC-SHA256 under a key derived from the
server's secret *and* the API key. Changing ``TIDINGS_API_KEY`` therefore ends every
session at once, and a cookie from another Tidings instance is worthless here.

CSRF tokens are double-submit tokens bound to the session: the form carries
HMAC(key, "csrf" + session id), which a cross-site page cannot compute (it never sees the
HttpOnly cookie, nor the key). The sign-in form, which has no session yet, binds its token
to a short-lived random "pre-session" cookie the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

COOKIE = "tidings_console"
PRE_COOKIE = "tidings_console_signin"
VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    expires: int  # Unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Sessions:
    """Issues and reads session cookies and their CSRF tokens."""

    def __init__(self, secret: str, api_key: str, lifetime_seconds: float) -> None:
        material = b"tidings-console-session\x00" + api_key.encode()
        self._key = hmac.new(secret.encode(), material, hashlib.sha256).digest()
        self.lifetime_seconds = lifetime_seconds

    def _sign(self, *parts: str) -> str:
        message = "\x00".join(parts).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def issue(self, now: datetime) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(secrets.token_urlsafe(18), int(now.timestamp() + self.lifetime_seconds))
        body = f"{VERSION}.{session.expires}.{session.sid}"
        return session, f"{body}.{self._sign('session', body)}"

    def read(self, value: str | None, now: datetime) -> Session | None:
        """The session a cookie value holds, or None if it is absent, forged or expired."""
        if not value or value.count(".") != 3:
            return None
        version, expires, sid, signature = value.split(".")
        body = f"{version}.{expires}.{sid}"
        if version != VERSION or not hmac.compare_digest(signature, self._sign("session", body)):
            return None
        if not (expires.isascii() and expires.isdigit()) or int(expires) <= now.timestamp():
            return None
        return Session(sid, int(expires))

    def csrf(self, session: Session) -> str:
        return self._sign("csrf", session.sid)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(session))

    @staticmethod
    def new_pre_session() -> str:
        """The random value of the sign-in form's own cookie."""
        return secrets.token_urlsafe(18)

    def sign_in_token(self, pre_session: str) -> str:
        return self._sign("sign-in", pre_session)

    def sign_in_token_ok(self, pre_session: str | None, token: str | None) -> bool:
        if not pre_session or not token:
            return False
        return hmac.compare_digest(token, self.sign_in_token(pre_session))


def same_key(given: str, expected: str) -> bool:
    """The API key check, in constant time (as ``api.context`` does)."""
    return hmac.compare_digest(given.encode(), expected.encode())
