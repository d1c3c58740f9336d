"""tidings.operations.confirm: tokens bound to one action, params, selection and expiry."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from tidings.operations import confirm

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
SECRET = "s3cret"
D = confirm.ids_digest


def test_ids_digest_is_sha256_of_sorted_ids() -> None:
    assert confirm.ids_digest([3, 1, 2]) == hashlib.sha256(b"1,2,3").hexdigest()
    assert confirm.ids_digest([]) == hashlib.sha256(b"").hexdigest()
    assert confirm.ids_digest([10, 9]) == hashlib.sha256(b"9,10").hexdigest()  # numeric order


def test_ids_digest_ignores_order_but_not_content() -> None:
    assert confirm.ids_digest([1, 2, 3]) == confirm.ids_digest([3, 2, 1])
    assert confirm.ids_digest([1, 2, 3]) != confirm.ids_digest([1, 2])
    assert confirm.ids_digest([1, 23]) != confirm.ids_digest([12, 3])


def test_sorted_ids_digest_streams_the_same_digest() -> None:
    ids = list(range(1, 12_001))
    batches = [ids[i : i + 5000] for i in range(0, len(ids), 5000)]
    assert confirm.sorted_ids_digest(batches) == confirm.ids_digest(reversed(ids))
    assert confirm.sorted_ids_digest([[], [1, 2], [], [3]]) == confirm.ids_digest([1, 2, 3])
    assert confirm.sorted_ids_digest([]) == confirm.ids_digest([])


def test_issue_format() -> None:
    token = confirm.issue(SECRET, "delete_forever", {}, D([1, 2]), LATER)
    stamp, _, mac = token.partition(".")
    assert stamp == str(int(LATER.timestamp()))
    assert len(mac) == 32
    assert all(c in "0123456789abcdef" for c in mac)


def test_token_confirms_its_own_selection() -> None:
    token = confirm.issue(SECRET, "delete_forever", {}, D([1, 2, 3]), LATER)
    assert confirm.check(SECRET, token, "delete_forever", {}, D([3, 1, 2]), NOW) is None
    # Still valid at the very second it expires.
    assert confirm.check(SECRET, token, "delete_forever", {}, D([1, 2, 3]), LATER) is None


@pytest.mark.parametrize(
    ("secret", "action", "params", "ids"),
    [
        ("other", "delete_forever", {}, [1, 2, 3]),
        (SECRET, "empty_trash", {}, [1, 2, 3]),
        (SECRET, "delete_forever", {"folder": "spam"}, [1, 2, 3]),
        (SECRET, "delete_forever", {}, [1, 2]),
        (SECRET, "delete_forever", {}, [1, 2, 3, 4]),
        (SECRET, "delete_forever", {}, []),
    ],
)
def test_token_does_not_confirm_anything_else(
    secret: str, action: str, params: dict[str, str], ids: list[int]
) -> None:
    token = confirm.issue(SECRET, "delete_forever", {}, D([1, 2, 3]), LATER)
    why = confirm.check(secret, token, action, params, D(ids), NOW)
    assert why is not None
    assert "does not match" in why


def test_params_order_does_not_matter() -> None:
    token = confirm.issue(SECRET, "empty_trash", {"a": 1, "folder": "spam"}, D([5]), LATER)
    assert (
        confirm.check(SECRET, token, "empty_trash", {"folder": "spam", "a": 1}, D([5]), NOW) is None
    )


def test_expired() -> None:
    token = confirm.issue(SECRET, "delete_forever", {}, D([1]), LATER)
    why = confirm.check(SECRET, token, "delete_forever", {}, D([1]), LATER + timedelta(seconds=1))
    assert why is not None
    assert "expired" in why


def test_moving_the_expiry_breaks_the_mac() -> None:
    token = confirm.issue(SECRET, "delete_forever", {}, D([1]), LATER)
    _, _, mac = token.partition(".")
    forged = f"{int((LATER + timedelta(days=1)).timestamp())}.{mac}"
    why = confirm.check(SECRET, forged, "delete_forever", {}, D([1]), LATER + timedelta(hours=1))
    assert why is not None
    assert "does not match" in why


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.def", "123", "123.", "-5.abc", "1e3.ab"])
def test_malformed(token: str) -> None:
    why = confirm.check(SECRET, token, "delete_forever", {}, D([1]), NOW)
    assert why is not None
    assert "malformed" in why
