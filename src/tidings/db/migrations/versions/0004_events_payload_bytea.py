"""events.payload on PostgreSQL: LZ4 blocks that Tidings compresses, in a bytea column

Until now PostgreSQL compressed each payload itself (TOAST, LZ4 since 0002), on the
server, in the transaction that appends the events: for a 100,000-conversation bulk
delete forever, on the path every chunk waits for. Tidings now compresses large and small
payloads alike before they are written (``tidings.events.payloads``), where the snapshots
are rendered (the snapshot renderer's child process, ADR 0011), and the server stores the
bytes as they come (``STORAGE EXTERNAL``: no second compression). ADR 0013.

Existing rows are compressed here, a few thousand at a time, into a new column that
then replaces the old one. No-op on SQLite, where compressed payloads are BLOBs in the
same column already (ADR 0010).

Revision ID: 0004
Revises: 0003
"""

from typing import Callable, Sequence, Union

import lz4.block
import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_BATCH = 5000


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _convert("BYTEA", lambda text: bytes(lz4.block.compress(text.encode())))
    op.execute("ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _convert("TEXT", lambda value: bytes(lz4.block.decompress(value)).decode())
    lz4_known = op.get_bind().exec_driver_sql(
        "SELECT 1 FROM pg_settings"
        " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
    )
    if lz4_known.first() is not None:  # as migration 0002 left it
        op.execute("ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4")


def _convert(new_type: str, convert: Callable[..., object]) -> None:
    """Rewrite every payload through ``convert`` into a column of ``new_type``, in place of
    the old one, batch by batch in position order."""
    bind = op.get_bind()
    op.execute(f"ALTER TABLE events ADD COLUMN payload_new {new_type}")
    after = 0
    while True:
        rows = bind.exec_driver_sql(
            "SELECT seq, payload FROM events WHERE seq > %(after)s ORDER BY seq LIMIT %(n)s",
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            break
        bind.execute(
            sa.text("UPDATE events SET payload_new = :value WHERE seq = :seq"),
            [{"seq": seq, "value": convert(value)} for seq, value in rows],
        )
        after = rows[-1][0]
    op.execute("ALTER TABLE events DROP COLUMN payload")
    op.execute("ALTER TABLE events RENAME COLUMN payload_new TO payload")
    op.execute("ALTER TABLE events ALTER COLUMN payload SET NOT NULL")
