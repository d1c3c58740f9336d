"""tidings.ids: ULID-layout identifiers."""

from __future__ import annotations

import re
import time

from tidings.ids import _ALPHABET, new_id, new_ids, ulid

CROCKFORD = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def decode_ms(value: str) -> int:
    n = 0
    for ch in value:
        n = n * 32 + _ALPHABET.index(ch)
    return n >> 80


def test_alphabet_is_crockford_base32() -> None:
    assert len(_ALPHABET) == 32
    assert len(set(_ALPHABET)) == 32
    assert not set("ILOU") & set(_ALPHABET)
    assert list(_ALPHABET) == sorted(_ALPHABET)


def test_shape() -> None:
    value = ulid()
    assert CROCKFORD.fullmatch(value)
    assert value[0] in "01234567"  # 130 bits in 26 chars: the top char carries 3 bits


def test_timestamp_is_encoded_in_the_first_ten_characters() -> None:
    assert decode_ms(ulid(0)) == 0
    assert ulid(0).startswith("0000000000")
    assert decode_ms(ulid(1_700_000_000_123)) == 1_700_000_000_123
    assert decode_ms(ulid(2**48 - 1)) == 2**48 - 1
    before = int(time.time() * 1000)
    now = decode_ms(ulid())
    after = int(time.time() * 1000)
    assert before <= now <= after


def test_ordered_by_time() -> None:
    assert ulid(1000) < ulid(1001) < ulid(2**40)
    ids = [ulid(ms) for ms in range(5000, 5100)]
    assert ids == sorted(ids)


def test_unique() -> None:
    values = {ulid(42) for _ in range(10_000)}
    assert len(values) == 10_000


def test_new_id_prefix() -> None:
    value = new_id("evt")
    assert value.startswith("evt_")
    assert CROCKFORD.fullmatch(value[4:])
    assert len(value) <= 32  # fits the events.id / operations.id columns (String(32))
    assert len(new_id("op")) <= 32


def test_ids_minted_at_once_have_the_same_shape_and_differ() -> None:
    before = int(time.time() * 1000)
    many = new_ids("evt", 1000)
    after = int(time.time() * 1000)
    assert len(set(many)) == 1000
    for value in many:
        prefix, body = value.split("_")
        assert prefix == "evt"
        assert CROCKFORD.fullmatch(body)
        assert before <= decode_ms(body) <= after
    assert new_ids("evt", 0) == []
