"""On SQLite, delete forever deletes a chunk with one ``DELETE FROM conversations`` and
lets the schema's cascades remove the rest (ADR 0009): every reference to a
conversation must cascade, or rows would be left behind (or the delete refused)."""

from __future__ import annotations

from tidings.db import schema


def test_every_reference_to_a_conversation_cascades() -> None:
    referencing = {
        (table.name, fk.parent.name, fk.ondelete)
        for table in schema.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table is schema.conversations
    }
    assert {(name, column) for name, column, _ in referencing} >= {
        ("threads", "conversation_id"),
        ("attachments", "conversation_id"),
        ("followers", "conversation_id"),
        ("conversation_tag", "conversation_id"),
        ("conversation_folder", "conversation_id"),
    }
    assert {name: ondelete for name, _, ondelete in referencing if ondelete != "CASCADE"} == {}


def test_attachments_go_with_their_thread() -> None:
    (fk,) = [fk for fk in schema.attachments.foreign_keys if fk.column.table is schema.threads]
    assert fk.ondelete == "CASCADE"
