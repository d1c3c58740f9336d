"""Tags: replace a conversation's set of tags; announced as ``convo.tags``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select

from tidings.db.schema import conversation_tag, tags
from tidings.desk.announce import announce
from tidings.desk.lifecycle import lock_rows
from tidings.errors import InvalidInput
from tidings.events.outbox import Tx


def normalize(name: str) -> str:
    return " ".join(name.strip().lower().split())[:191]


def parse_names(value: object, path: str = "tags") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidInput.field(path, f"`{path}` must be a list of tag names")
    return list(dict.fromkeys(n for n in (normalize(t) for t in value) if n))


def tag_ids(tx: Tx, names: Sequence[str]) -> list[int]:
    """Ids for the names, creating the tags that do not exist yet."""
    if not names:
        return []
    existing = {
        r.name: r.id
        for r in tx.conn.execute(select(tags.c.id, tags.c.name).where(tags.c.name.in_(names)))
    }
    missing = [n for n in names if n not in existing]
    if missing:
        tx.conn.execute(insert(tags), [{"name": n, "color": 0} for n in missing])
        existing.update(
            {
                r.name: r.id
                for r in tx.conn.execute(
                    select(tags.c.id, tags.c.name).where(tags.c.name.in_(missing))
                )
            }
        )
    return [existing[n] for n in names]


def set_tags(
    tx: Tx, convo_ids: Sequence[int], names: Sequence[str], *, replace: bool = True
) -> list[int]:
    """Replace (or, with ``replace=False``, add to) the tags; returns the changed ids."""
    wanted = set(tag_ids(tx, names))
    changed = []
    for convo in lock_rows(tx.conn, convo_ids):
        current = set(
            tx.conn.execute(
                select(conversation_tag.c.tag_id).where(
                    conversation_tag.c.conversation_id == convo.id
                )
            ).scalars()
        )
        target = wanted if replace else current | wanted
        if target == current:
            continue
        if current - target:
            tx.conn.execute(
                delete(conversation_tag).where(
                    conversation_tag.c.conversation_id == convo.id,
                    conversation_tag.c.tag_id.in_(current - target),
                )
            )
        if target - current:
            tx.conn.execute(
                insert(conversation_tag),
                [{"conversation_id": convo.id, "tag_id": t} for t in sorted(target - current)],
            )
        changed.append(convo.id)
    announce(tx, [("convo.tags", i) for i in changed], with_tags=True)
    return changed
