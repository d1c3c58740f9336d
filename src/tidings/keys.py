"""The instance's API key: from ``TIDINGS_API_KEY``, or generated once and kept in the database."""

from __future__ import annotations

import secrets

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tidings.db.engine import Database
from tidings.db.schema import settings_kv


def stored_value(db: Database, key: str, make: str) -> str:
    """The value stored under ``key``, storing ``make`` first if there is none. Several
    processes starting at once on a new database agree: one stores, the others read."""
    query = select(settings_kv.c.value).where(settings_kv.c.key == key)
    try:
        with db.write() as conn:
            found = conn.execute(query).scalar()
            if found is not None:
                return str(found)
            conn.execute(insert(settings_kv).values(key=key, value=make))
            return make
    except IntegrityError:  # another process stored it between our read and our insert
        with db.read() as conn:
            return str(conn.execute(query).scalar_one())


def api_key(db: Database, configured: str | None) -> str:
    if configured:
        return configured
    return stored_value(db, "api_key", secrets.token_hex(16))


def webhook_secret(db: Database, configured: str | None) -> str:
    """The instance's ``X-FreeScout-Signature`` secret: FreeScout's is a 32-character hex
    string, the same for every webhook."""
    if configured:
        return configured
    return stored_value(db, "webhook_secret", secrets.token_hex(16))
