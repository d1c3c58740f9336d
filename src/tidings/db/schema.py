"""The tables. SQLAlchemy Core only; every query lives in a ``queries`` module.

Enumerations are stored as FreeScout's integers (reference 1.4) and translated at
the API edge by ``tidings.desk.enums``. Folder counters are not stored: they are
counted on read (ADR 0002), so no code path can leave them wrong.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from tidings.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Big integers on PostgreSQL, plain INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _timestamps() -> list[Column[object]]:
    return [
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
    ]


settings_kv = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    _id(),
    Column("name", String(128), nullable=False),
    Column("email", String(191), nullable=False, unique=True),
    Column("last_number", Integer, nullable=False, default=0),
    *_timestamps(),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("first_name", String(40), nullable=False),
    Column("last_name", String(40), nullable=False, default=""),
    Column("email", String(191), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=True),
    Column("role", Integer, nullable=False, default=1),
    Column("alternate_emails", Text, nullable=True),
    Column("job_title", String(100), nullable=True),
    Column("phone", String(60), nullable=True),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("photo_url", String(255), nullable=True),
    Column("language", String(8), nullable=False, default="en"),
    Column("deleted", Boolean, nullable=False, default=False),
    *_timestamps(),
)

mailbox_user = Table(
    "mailbox_user",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

folders = Table(
    "folders",
    metadata,
    _id(),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("type", Integer, nullable=False),
    UniqueConstraint("mailbox_id", "type", "user_id", name="uq_folders_mailbox_type_user"),
)

customers = Table(
    "customers",
    metadata,
    _id(),
    Column("first_name", String(40), nullable=True),
    Column("last_name", String(40), nullable=True),
    Column("job_title", String(60), nullable=True),
    Column("company", String(60), nullable=True),
    Column("photo_type", Integer, nullable=True),
    Column("photo_url", String(255), nullable=True),
    Column("notes", Text, nullable=True),
    Column("phones", JSON, nullable=False, default=list),
    Column("social_profiles", JSON, nullable=False, default=list),
    Column("websites", JSON, nullable=False, default=list),
    Column("address", JSON, nullable=False, default=dict),
    *_timestamps(),
)

customer_emails = Table(
    "customer_emails",
    metadata,
    _id(),
    Column("customer_id", ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(191), nullable=False, unique=True),
    Column("type", Integer, nullable=False, default=1),
    Index("ix_customer_emails_customer_id", "customer_id"),
)

conversations = Table(
    "conversations",
    metadata,
    _id(),
    Column("number", Integer, nullable=False),
    Column("mailbox_id", ForeignKey("mailboxes.id"), nullable=False),
    Column("folder_id", ForeignKey("folders.id"), nullable=False),
    Column("type", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("subject", String(998), nullable=False, default=""),
    Column("preview", String(255), nullable=False, default=""),
    Column("user_id", ForeignKey("users.id"), nullable=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("customer_email", String(191), nullable=True),
    Column("cc", JSON, nullable=False, default=list),
    Column("bcc", JSON, nullable=False, default=list),
    Column("source_type", Integer, nullable=False),
    Column("source_via", Integer, nullable=False),
    Column("created_by_user_id", ForeignKey("users.id"), nullable=True),
    Column("created_by_customer_id", ForeignKey("customers.id"), nullable=True),
    Column("closed_by_user_id", ForeignKey("users.id"), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("user_updated_at", UTCDateTime(), nullable=True),
    Column("last_reply_at", UTCDateTime(), nullable=True),
    Column("last_reply_from", Integer, nullable=True),
    Column("threads_count", Integer, nullable=False, default=0),
    Column("imported", Boolean, nullable=False, default=False),
    *_timestamps(),
    Index("ix_conversations_state_created", "state", "created_at"),
    Index("ix_conversations_mailbox_state_created", "mailbox_id", "state", "created_at"),
    Index("ix_conversations_folder_status", "folder_id", "status"),
    Index("ix_conversations_customer_id", "customer_id"),
    Index("ix_conversations_user_id", "user_id"),
    Index("ix_conversations_updated_at", "updated_at"),
    Index("ix_conversations_mailbox_number", "mailbox_id", "number"),
    # ``customerEmail`` lists count through this index instead of the whole table.
    Index("ix_conversations_customer_email", "customer_email"),
)

# List totals (ADR 0018): how many conversations each (mailbox, folder, status, state,
# assignee) group holds, so a list's ``totalElements`` is a sum over a few hundred groups
# however many conversations there are. Triggers on ``conversations`` append +1/-1 rows to
# ``conversation_total_changes`` (inserts only: concurrent writers never wait on each
# other there); each transaction folds them into ``conversation_totals`` just before it
# commits, under the lock that already orders commits (``db/totals.py``). ``user_id`` 0
# is "unassigned", so that the group is a plain primary key on both databases.
conversation_totals = Table(
    "conversation_totals",
    metadata,
    Column("mailbox_id", Integer, primary_key=True),
    Column("folder_id", Integer, primary_key=True),
    Column("status", Integer, primary_key=True),
    Column("state", Integer, primary_key=True),
    Column("user_id", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

conversation_total_changes = Table(
    "conversation_total_changes",
    metadata,
    Column("mailbox_id", Integer, nullable=False),
    Column("folder_id", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("delta", Integer, nullable=False),
)

threads = Table(
    "threads",
    metadata,
    _id(),
    Column("conversation_id", ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("type", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("action_type", Integer, nullable=True),
    Column("body", Text, nullable=False, default=""),
    Column("source_type", Integer, nullable=False),
    Column("source_via", Integer, nullable=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("created_by_user_id", ForeignKey("users.id"), nullable=True),
    Column("created_by_customer_id", ForeignKey("customers.id"), nullable=True),
    Column("user_id", ForeignKey("users.id"), nullable=True),
    Column("to", JSON, nullable=False, default=list),
    Column("cc", JSON, nullable=False, default=list),
    Column("bcc", JSON, nullable=False, default=list),
    Column("meta", JSON, nullable=False, default=dict),
    Column("imported", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=True),
    Index("ix_threads_conversation_id", "conversation_id"),
)

attachments = Table(
    "attachments",
    metadata,
    _id(),
    Column("thread_id", ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("conversation_id", ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("mime_type", String(127), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Index("ix_attachments_thread_id", "thread_id"),
    Index("ix_attachments_conversation_id", "conversation_id"),
)

tags = Table(
    "tags",
    metadata,
    _id(),
    Column("name", String(191), nullable=False, unique=True),
    Column("color", Integer, nullable=False, default=0),
)

conversation_tag = Table(
    "conversation_tag",
    metadata,
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_conversation_tag_tag_id", "tag_id"),
)

followers = Table(
    "followers",
    metadata,
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

# Membership in the "indirect" folders (Starred, Drafts), as FreeScout keeps it.
conversation_folder = Table(
    "conversation_folder",
    metadata,
    Column(
        "conversation_id",
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("folder_id", ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_conversation_folder_folder_id", "folder_id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    _id(),
    Column("url", String(2048), nullable=False),
    Column("events", JSON, nullable=False),  # names, or ["*"] for every event
    Column("mailboxes", JSON, nullable=False, default=list),  # [] = all
    # Standard Webhooks signing secret (whsec_...); after a rotation the previous one
    # still signs until ``previous_secret_until``.
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128), nullable=True),
    Column("previous_secret_until", UTCDateTime(), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("format", String(16), nullable=False, default="freescout"),  # or "envelope"
    Column("ordered", Boolean, nullable=False, default=False),
    Column("max_concurrency", Integer, nullable=False, default=10),
    # Fan-out: events up to this position were considered (the newest one when the
    # webhook was created: it receives only what commits after); the next delivery's
    # ``X-Tidings-Sequence``.
    Column("cursor", BigInteger, nullable=False, default=0),
    Column("next_sequence", BigInteger, nullable=False, default=1),
    # Health: FreeScout's last attempt, and Tidings' own.
    Column("last_run_time", UTCDateTime(), nullable=True),
    Column("last_run_error", Text, nullable=True),
    Column("last_success_at", UTCDateTime(), nullable=True),
    Column("failing_since", UTCDateTime(), nullable=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    # Since when its oldest undelivered event has been older than the lag threshold.
    Column("lagging_since", UTCDateTime(), nullable=True),
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("disabled_reason", Text, nullable=True),
    *_timestamps(),
)

# One event to one webhook: its ``id`` is the ``webhook-id`` header, the same on every
# attempt. The body is the event's stored payload (``events.payload``), read when sent,
# never copied. ``status``: pending (due at ``next_attempt_at``), delivered, failed (the
# schedule ran out), skipped (the webhook was disabled: kept for a replay).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=True),  # what ordered delivery orders by
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    UniqueConstraint("webhook_id", "sequence", name="uq_deliveries_webhook_sequence"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_event_seq", "event_seq"),
    # A webhook's oldest pending delivery (lag), its failed ones since a time (replay).
    Index("ix_deliveries_webhook_status", "webhook_id", "status", "created_at"),
)

# Every attempt of every delivery, pruned after ``TIDINGS_ATTEMPT_RETENTION_DAYS``.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    _id(),
    Column("delivery_id", ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=False),
    Column("response_body", Text, nullable=True),  # the first bytes
    Column("error_class", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
    Index("ix_delivery_attempts_started_at", "started_at"),
)

# The outbox and the event log are one table: a row is appended in the same
# transaction as the change it announces, and ``seq`` is assigned in commit order
# (see tidings.events.outbox and ADR 0003).
events = Table(
    "events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", BigInteger, nullable=True),
    Column("mailbox_id", BigInteger, nullable=True),
    Column("conversation_id", BigInteger, nullable=True),
    Column("operation_id", String(32), nullable=True),
    # JSON text, or on SQLite an LZ4 block (a BLOB) when large: tidings.events.payloads.
    Column("payload", Text, nullable=False),
    Index("ix_events_created_at", "created_at"),
    Index("ix_events_conversation_id", "conversation_id"),
    Index("ix_events_operation_id", "operation_id"),
)

operations = Table(
    "operations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("selection", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("by_user_id", BigInteger, nullable=True),
    Column("atomic", Boolean, nullable=False, default=False),
    Column("timeout_seconds", Integer, nullable=True),
    Column("total", Integer, nullable=False, default=0),
    Column("processed", Integer, nullable=False, default=0),
    Column("succeeded", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("digest", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_progress_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    # Items before this position are done: see operation_items.outcome.
    Column("next_position", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_operations_status", "status"),
)

# The selection of an operation, frozen when it starts, so a resumed run after a
# crash continues from the last committed chunk and never processes a row twice.
# ``outcome``: 'missing' or 'unchanged' for a done item that did not change; NULL for
# one that changed, or is not done yet (position >= operations.next_position). Only
# the exceptions are written: a row update per conversation cost more than the rest
# of the bookkeeping.
operation_items = Table(
    "operation_items",
    metadata,
    Column("operation_id", ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("conversation_id", BigInteger, nullable=False),
    Column("outcome", String(16), nullable=True),
)
