"""operations.next_position: where the next chunk starts; item outcomes only for exceptions

A chunk used to record every item's outcome, one row update per conversation: 1.3 s
of a 100,000-conversation bulk delete forever on PostgreSQL (each update writes a new
row version and index entry). Now the operation row says how far its items are done
(``next_position``), and only items that did not change get an outcome ('missing',
'unchanged'): a done item with no outcome changed. Operations already under way are
carried over: their cursor is past their last item with an outcome, and their
'changed' outcomes become NULL. Finished operations keep theirs (they are never read
again: the digest is stored), which spares rewriting every item of the past.

The column is added and dropped in place (``recreate="never"``): rebuilding the
``operations`` table on SQLite would drop the old one, and with foreign keys on, that
deletes every operation's items (``ON DELETE CASCADE``).

Revision ID: 0003
Revises: 0002
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("operations", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("next_position", sa.Integer(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE operations SET next_position = COALESCE((SELECT max(i.position) + 1"
        " FROM operation_items i WHERE i.operation_id = operations.id"
        " AND i.outcome IS NOT NULL), 0)"
    )
    op.execute(
        "UPDATE operation_items SET outcome = NULL WHERE outcome = 'changed' AND operation_id IN"
        " (SELECT id FROM operations WHERE status IN ('queued', 'running'))"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE operation_items SET outcome = 'changed' WHERE outcome IS NULL AND position <"
        " (SELECT o.next_position FROM operations o WHERE o.id = operation_items.operation_id)"
    )
    with op.batch_alter_table("operations", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("next_position")
