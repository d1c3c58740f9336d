"""verify(): Standard Webhooks and FreeScout signatures, over deliveries signed by Tidings'
own signing code. Each refusal names the check that failed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from receiver_kit import INSTANCE_SECRET, OTHER_SECRET, SECRET, START, FakeClock, delivery
from standardwebhooks import Webhook
from tidings_receiver import BadSignature, BadTimestamp, MissingHeader, VerificationError, verify

DATA = {"id": 7, "subject": "Caf\u00e9 au lait", "status": "active", "tags": []}


def check(body: bytes, headers: dict[str, str], secret: str = SECRET, **kw: object) -> None:
    verify(body, headers, secret, now=FakeClock(), **kw)  # type: ignore[arg-type]


def test_a_genuine_delivery_verifies_with_either_secret() -> None:
    body, headers = delivery(DATA)
    check(body, headers)
    check(body, headers, INSTANCE_SECRET)
    # The standardwebhooks package agrees with both the signer and the checker.
    assert headers["webhook-signature"] == Webhook(SECRET).sign(
        headers["webhook-id"], START, body.decode()
    )


def test_any_of_several_signatures_verifies() -> None:
    """During a rotation's grace period a delivery carries one signature per live secret."""
    body, headers = delivery(DATA, secrets=(OTHER_SECRET, SECRET))
    assert len(headers["webhook-signature"].split()) == 2
    check(body, headers)
    check(body, headers, OTHER_SECRET)


def test_header_names_are_case_insensitive() -> None:
    body, headers = delivery(DATA)
    check(body, {k.upper(): v for k, v in headers.items()})
    check(body, {k.title(): v for k, v in headers.items()}, INSTANCE_SECRET)


def test_a_forged_delivery_is_refused() -> None:
    body, headers = delivery(DATA, secrets=(OTHER_SECRET,))
    with pytest.raises(BadSignature, match="none of the 1 webhook-signature"):
        check(body, headers)
    # A signature copied from another delivery does not sign this one.
    other_body, other_headers = delivery({**DATA, "status": "closed"})
    with pytest.raises(BadSignature):
        check(body, {**headers, "webhook-signature": other_headers["webhook-signature"]})
    with pytest.raises(BadSignature, match="X-FreeScout-Signature"):
        check(
            body,
            {**headers, "X-FreeScout-Signature": other_headers["X-FreeScout-Signature"]},
            INSTANCE_SECRET,
        )
    with pytest.raises(BadSignature):
        check(other_body, headers, "another-instance-secret")


def test_a_replayed_delivery_is_refused_by_its_timestamp() -> None:
    old = START - timedelta(minutes=5, seconds=1)
    body, headers = delivery(DATA, timestamp=old)
    with pytest.raises(BadTimestamp, match="301 s old"):
        check(body, headers)
    # Within the tolerance (configurable) it verifies; the same in the future.
    check(body, headers, tolerance=timedelta(minutes=6))
    check(*delivery(DATA, timestamp=START - timedelta(minutes=5)))
    future_body, future_headers = delivery(DATA, timestamp=START + timedelta(minutes=6))
    with pytest.raises(BadTimestamp, match="in the future"):
        check(future_body, future_headers)
    # A new timestamp on a captured request breaks its signature.
    with pytest.raises(BadSignature):
        check(body, {**headers, "webhook-timestamp": str(int(START.timestamp()))})


@pytest.mark.parametrize("stamp", ["soon", "1.7e9", "-5", " ", "99999999999999999999"])
def test_an_unparseable_timestamp_is_refused(stamp: str) -> None:
    body, headers = delivery(DATA)
    error = MissingHeader if not stamp.strip() else BadTimestamp
    with pytest.raises(error):
        check(body, {**headers, "webhook-timestamp": stamp})


@pytest.mark.parametrize("secret", [SECRET, INSTANCE_SECRET])
def test_a_truncated_body_is_refused(secret: str) -> None:
    body, headers = delivery(DATA)
    for cut in (body[:-1], body[: len(body) // 2], b""):
        with pytest.raises(BadSignature):
            check(cut, headers, secret)


@pytest.mark.parametrize("secret", [SECRET, INSTANCE_SECRET])
def test_a_re_encoded_body_is_refused(secret: str) -> None:
    """The same JSON, serialised again (spacing, escapes, key order, encoding): not the bytes
    that were signed."""
    body, headers = delivery(DATA)
    parsed = json.loads(body)
    for again in (
        json.dumps(parsed).encode(),  # spaces after separators
        json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode(),  # raw é
        json.dumps(dict(reversed(parsed.items())), separators=(",", ":")).encode(),
        body.decode().encode("utf-16"),
        body + b"\n",
    ):
        assert again != body
        with pytest.raises(BadSignature):
            check(again, headers, secret)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    body, headers = delivery(b'{"id": "\xff"}')
    with pytest.raises(BadSignature, match="not UTF-8"):
        check(body, headers)
    check(body, headers, INSTANCE_SECRET)  # FreeScout's HMAC is over bytes, whatever they are


@pytest.mark.parametrize(
    ("secret", "header"),
    [
        (SECRET, "webhook-id"),
        (SECRET, "webhook-timestamp"),
        (SECRET, "webhook-signature"),
        (INSTANCE_SECRET, "X-FreeScout-Signature"),
    ],
)
def test_a_missing_header_is_named(secret: str, header: str) -> None:
    body, headers = delivery(DATA)
    del headers[header]
    with pytest.raises(MissingHeader, match=header) as caught:
        check(body, headers, secret)
    assert caught.value.header == header
    with pytest.raises(MissingHeader):
        check(body, {**headers, header: ""}, secret)


def test_every_refusal_is_a_verification_error_with_status_400() -> None:
    for error in (MissingHeader, BadTimestamp, BadSignature):
        assert issubclass(error, VerificationError)
        assert error.status_code == 400


def test_a_malformed_secret_is_a_configuration_error() -> None:
    body, headers = delivery(DATA)
    with pytest.raises(ValueError, match="base64"):
        check(body, headers, "whsec_not*base64")
    with pytest.raises(ValueError, match="empty"):
        check(body, headers, "whsec_")
