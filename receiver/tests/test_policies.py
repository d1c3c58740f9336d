"""The other pure parts: the retry schedule, the digest (the server's contract), and how a
delivery's headers and body name its event."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from receiver_kit import START, delivery
from tidings_receiver.digest import Digest, Item, compare, differing, digest, item
from tidings_receiver.errors import MissingHeader
from tidings_receiver.event import Event, incoming
from tidings_receiver.retry import Backoff, GiveUp, Retry, after_failure

# --- retries ---------------------------------------------------------------------------------


def test_the_backoff_doubles_up_to_its_cap_with_jitter_both_ways() -> None:
    backoff = Backoff(base=timedelta(seconds=2), cap=timedelta(seconds=60), jitter=0.2)
    assert [backoff.delay(n, 0.5).total_seconds() for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(1, 0.0) == timedelta(seconds=1.6)
    assert backoff.delay(1, 0.999999).total_seconds() == pytest.approx(2.4)
    assert backoff.delay(10_000, 0.5) == timedelta(seconds=60)


def test_an_event_is_given_up_after_its_last_attempt() -> None:
    backoff = Backoff(jitter=0)
    assert after_failure(1, 3, backoff, START, 0.5) == Retry(START + timedelta(seconds=2))
    assert after_failure(2, 3, backoff, START, 0.5) == Retry(START + timedelta(seconds=4))
    assert after_failure(3, 3, backoff, START, 0.5) == GiveUp()


# --- the digest ------------------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_digest_is_the_contract_written_out() -> None:
    items = [
        Item(9, "2026-12-06T07:30:02Z", "published"),
        Item(3, "2026-12-01T00:00:00Z", "deleted"),
        Item(4, "2026-12-02T10:00:00Z", "draft"),
    ]
    found = digest(items, buckets=3)
    bucket0 = sha("3:2026-12-01T00:00:00Z:deleted\n9:2026-12-06T07:30:02Z:published\n")
    bucket1 = sha("4:2026-12-02T10:00:00Z:draft\n")
    empty = sha("")
    assert found.counts == (2, 1, 0)
    assert found.hashes == (bucket0, bucket1, empty)
    assert found.hash == sha(f"{bucket0}\n{bucket1}\n{empty}")
    assert found.to_json() == {
        "buckets": 3,
        "total": 3,
        "hash": found.hash,
        "items": [
            {"bucket": 0, "count": 2, "hash": bucket0},
            {"bucket": 1, "count": 1, "hash": bucket1},
            {"bucket": 2, "count": 0, "hash": empty},
        ],
    }
    assert Digest.from_json(found.to_json()) == found
    assert digest(reversed(items), buckets=3) == found  # the order given does not matter


def test_buckets_that_differ_and_what_differs_in_them() -> None:
    server = [Item(1, "a", "published"), Item(2, "b", "published"), Item(5, "c", "deleted")]
    local = [Item(1, "a", "published"), Item(2, "b", "deleted"), Item(7, "d", "draft")]
    assert differing(digest(local, 4), digest(server, 4)) == [1, 2, 3]
    found = compare(local, server)
    assert (found.missing, found.extra, found.stale) == ([5], [7], [2])
    with pytest.raises(ValueError, match="buckets"):
        differing(digest(local, 4), digest(server, 8))
    with pytest.raises(ValueError, match="every bucket"):
        Digest.from_json({"buckets": 2, "items": [{"bucket": 0, "count": 0, "hash": "x"}]})


def test_items_come_from_tuples_or_from_conversations() -> None:
    assert item((3, "t", "draft")) == Item(3, "t", "draft")
    conversation = {"id": 3, "updatedAt": "t", "state": "draft", "subject": "Hi"}
    assert item(conversation) == Item(3, "t", "draft")


# --- a delivery's identity -------------------------------------------------------------------


def test_a_delivery_is_named_by_its_headers() -> None:
    body, headers = delivery(
        {"id": 1},
        event_id="evt_A",
        seq=40,
        webhook_id=3,
        sequence=7,
        message_id="msg_B",
        event_type="convo.status",
    )
    found = incoming(body, {k.lower(): v for k, v in headers.items()})
    assert (
        found.id,
        found.type,
        found.seq,
        found.webhook_id,
        found.sequence,
        found.message_id,
    ) == ("evt_A", "convo.status", 40, 3, 7, "msg_B")


def test_older_senders_fall_back_to_the_envelope_the_webhook_id_or_a_hash() -> None:
    envelope = b'{"id":"evt_E","type":"convo.created","seq":12,"createdAt":"x","data":{"id":5}}'
    body, headers = delivery(envelope, event_id="", seq=None, webhook_id=None)
    found = incoming(body, headers)
    assert (found.id, found.seq, found.webhook_id) == ("evt_E", 12, None)
    assert Event(found.id, found.type, found.seq, body).data == {"id": 5}

    body, headers = delivery({"id": 5}, event_id="", seq=0, message_id="msg_M")
    assert (incoming(body, headers).id, incoming(body, headers).seq) == ("msg_M", None)

    freescout = {"X-FreeScout-Event": "convo.created", "X-FreeScout-Signature": "..."}
    first = incoming(b'{"id":5}', freescout).id
    assert first.startswith("sha256:")
    assert incoming(b'{"id":5}', freescout).id == first
    assert incoming(b'{"id":6}', freescout).id != first
    with pytest.raises(MissingHeader, match="X-FreeScout-Event"):
        incoming(b"{}", {"webhook-id": "msg_1"})
