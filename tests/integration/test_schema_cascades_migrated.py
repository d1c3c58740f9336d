"""The migrated database, not only the SQLAlchemy metadata, cascades every reference to a
conversation (delete forever relies on it on SQLite: ADR 0009)."""

from __future__ import annotations

from tidings.db.engine import Database

CHILDREN = {
    ("threads", "conversation_id", "conversations"),
    ("attachments", "conversation_id", "conversations"),
    ("attachments", "thread_id", "threads"),
    ("followers", "conversation_id", "conversations"),
    ("conversation_tag", "conversation_id", "conversations"),
    ("conversation_folder", "conversation_id", "conversations"),
}


def delete_rules(db: Database) -> dict[tuple[str, str, str], str]:
    """(table, column, referenced table) -> ON DELETE rule, for references to
    conversations and threads."""
    rules: dict[tuple[str, str, str], str] = {}
    with db.read() as conn:
        if db.is_sqlite:
            tables = [
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                for fk in conn.exec_driver_sql(f"PRAGMA foreign_key_list({table})"):
                    # id, seq, table, from, to, on_update, on_delete, match
                    if fk[2] in ("conversations", "threads"):
                        rules[(table, fk[3], fk[2])] = fk[6]
        else:
            found = conn.exec_driver_sql(
                "SELECT kcu.table_name, kcu.column_name, ccu.table_name, rc.delete_rule"
                " FROM information_schema.referential_constraints rc"
                " JOIN information_schema.key_column_usage kcu"
                "   ON kcu.constraint_name = rc.constraint_name"
                " JOIN information_schema.constraint_column_usage ccu"
                "   ON ccu.constraint_name = rc.unique_constraint_name"
                " WHERE ccu.table_name IN ('conversations', 'threads')"
            )
            rules = {(t, c, ref): rule for t, c, ref, rule in found}
    return rules


def test_references_to_conversations_cascade(db: Database) -> None:
    rules = delete_rules(db)
    assert set(rules) >= CHILDREN
    assert {key: rule for key, rule in rules.items() if rule != "CASCADE"} == {}
