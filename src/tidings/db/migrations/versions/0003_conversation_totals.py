"""conversation totals: list totals kept by triggers, and an index for customerEmail lists

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP = "mailbox_id, folder_id, status, state, user_id"

# SQLite: row triggers; an update appends only when it moves a conversation between groups.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER conversation_totals_insert AFTER INSERT ON conversations BEGIN
        INSERT INTO conversation_total_changes VALUES
            (NEW.mailbox_id, NEW.folder_id, NEW.status, NEW.state, coalesce(NEW.user_id, 0), 1);
    END""",
    """CREATE TRIGGER conversation_totals_delete AFTER DELETE ON conversations BEGIN
        INSERT INTO conversation_total_changes VALUES
            (OLD.mailbox_id, OLD.folder_id, OLD.status, OLD.state, coalesce(OLD.user_id, 0), -1);
    END""",
    """CREATE TRIGGER conversation_totals_update
    AFTER UPDATE OF mailbox_id, folder_id, status, state, user_id ON conversations
    WHEN OLD.mailbox_id IS NOT NEW.mailbox_id OR OLD.folder_id IS NOT NEW.folder_id
        OR OLD.status IS NOT NEW.status OR OLD.state IS NOT NEW.state
        OR OLD.user_id IS NOT NEW.user_id
    BEGIN
        INSERT INTO conversation_total_changes VALUES
            (OLD.mailbox_id, OLD.folder_id, OLD.status, OLD.state, coalesce(OLD.user_id, 0), -1);
        INSERT INTO conversation_total_changes VALUES
            (NEW.mailbox_id, NEW.folder_id, NEW.status, NEW.state, coalesce(NEW.user_id, 0), 1);
    END""",
]

# PostgreSQL: statement triggers with transition tables, so a bulk statement over thousands
# of conversations appends one row per group it touched, not one per conversation.
_GROUPED = "mailbox_id, folder_id, status, state, coalesce(user_id, 0) AS user_id"
_MOVED = """
    FROM old_rows o JOIN new_rows n USING (id)
    WHERE (o.mailbox_id, o.folder_id, o.status, o.state, o.user_id)
        IS DISTINCT FROM (n.mailbox_id, n.folder_id, n.status, n.state, n.user_id)"""
PG_CHANGES = {
    "insert": f"SELECT {_GROUPED}, count(*) FROM new_rows GROUP BY 1, 2, 3, 4, 5",
    "delete": f"SELECT {_GROUPED}, -count(*) FROM old_rows GROUP BY 1, 2, 3, 4, 5",
    "update": f"""SELECT {GROUP}, sum(delta) FROM (
        SELECT o.mailbox_id, o.folder_id, o.status, o.state,
               coalesce(o.user_id, 0) AS user_id, -1 AS delta {_MOVED}
        UNION ALL
        SELECT n.mailbox_id, n.folder_id, n.status, n.state,
               coalesce(n.user_id, 0) AS user_id, 1 AS delta {_MOVED}
    ) moved GROUP BY 1, 2, 3, 4, 5 HAVING sum(delta) <> 0""",
}
PG_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def _pg_statements() -> list[str]:
    statements = []
    for name, changes in PG_CHANGES.items():
        statements += [
            f"""CREATE FUNCTION tidings_conversation_totals_{name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO conversation_total_changes ({GROUP}, delta) {changes};
                RETURN NULL;
            END $$""",
            f"CREATE TRIGGER conversation_totals_{name} AFTER {name.upper()} ON conversations"
            f" {PG_REFERENCING[name]} FOR EACH STATEMENT"
            f" EXECUTE FUNCTION tidings_conversation_totals_{name}()",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "conversation_totals",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "mailbox_id", "folder_id", "status", "state", "user_id",
            name=op.f("pk_conversation_totals"),
        ),
    )  # fmt: skip
    op.create_table(
        "conversation_total_changes",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
    )
    op.create_index("ix_conversations_customer_email", "conversations", ["customer_email"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in _pg_statements() if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)
    # The totals of the conversations already there.
    op.execute(
        f"INSERT INTO conversation_totals ({GROUP}, n)"
        f" SELECT mailbox_id, folder_id, status, state, coalesce(user_id, 0), count(*)"
        f" FROM conversations GROUP BY 1, 2, 3, 4, 5"
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in ("insert", "delete", "update"):
        if postgresql:
            op.execute(f"DROP TRIGGER conversation_totals_{name} ON conversations")
            op.execute(f"DROP FUNCTION tidings_conversation_totals_{name}()")
        else:
            op.execute(f"DROP TRIGGER conversation_totals_{name}")
    op.drop_index("ix_conversations_customer_email", table_name="conversations")
    op.drop_table("conversation_total_changes")
    op.drop_table("conversation_totals")
