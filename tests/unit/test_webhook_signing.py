"""tidings.webhooks.signing: signatures that independent verifiers accept."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tidings.webhooks import signing

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 24).decode()
BODY = b'{"id":7,"subject":"Caf\xc3\xa9 \\"quoted\\"","_embedded":{"threads":[]}}'
NOW = int(datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp())


def _headers(secrets: list[str], timestamp: int = NOW) -> dict[str, str]:
    return signing.headers(
        event_type="convo.created",
        message_id="msg_01M94ABC",
        timestamp=timestamp,
        sequence=42,
        body=BODY,
        instance_secret="0123456789abcdef0123456789abcdef",
        secrets=secrets,
        webhook_id=3,
        event_id="evt_01M94XYZ",
        event_seq=1234,
    )


def test_the_standardwebhooks_package_verifies_every_live_secret() -> None:
    headers = _headers([SECRET, OLD_SECRET])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        verifier = Webhook(secret)
        # The package checks the timestamp against its own clock: sign "now" for it.
        now = int(datetime.now(UTC).timestamp())
        assert verifier.verify(BODY, _headers([SECRET, OLD_SECRET], now)) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(BODY, headers)


def test_a_changed_body_or_id_fails_verification() -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = _headers([SECRET], now)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"7", b"8"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, {**headers, "webhook-id": "msg_other"})


def test_standard_signature_is_the_spec_computation() -> None:
    """By hand, from the spec: HMAC-SHA256 over ``id.timestamp.body``."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, b"msg_01M94ABC.%d." % NOW + BODY, hashlib.sha256).digest()
    assert _headers([SECRET])["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    # And the package's own signer agrees.
    signed_at = datetime.fromtimestamp(NOW, UTC)
    assert (
        Webhook(SECRET).sign("msg_01M94ABC", signed_at, BODY.decode())
        == (_headers([SECRET])["webhook-signature"])
    )


def test_freescout_signature_is_base64_hmac_sha1_of_the_body() -> None:
    """FreeScout: base64_encode(hash_hmac('sha1', $body, SECRET, true))."""
    secret = "0123456789abcdef0123456789abcdef"
    digest = hmac.new(secret.encode(), BODY, hashlib.sha1).digest()
    assert _headers([SECRET])["X-FreeScout-Signature"] == base64.b64encode(digest).decode()
    assert len(_headers([SECRET])["X-FreeScout-Signature"]) == 28  # 20 bytes, padded


def test_the_other_headers() -> None:
    headers = _headers([SECRET])
    assert headers["X-FreeScout-Event"] == "convo.created"
    assert headers["webhook-id"] == "msg_01M94ABC"
    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["X-Tidings-Sequence"] == "42"
    assert headers["X-Tidings-Webhook-Id"] == "3"
    assert headers["X-Tidings-Event-Id"] == "evt_01M94XYZ"
    assert headers["X-Tidings-Event-Seq"] == "1234"


@pytest.mark.parametrize("secret", ["", "whsec_", "sk_abc", "whsec_not base64!"])
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(signing.InvalidSecret):
        signing.secret_key(secret)


def test_unpadded_secrets_are_accepted() -> None:
    assert signing.secret_key("whsec_" + base64.b64encode(b"abcd").decode().rstrip("=")) == (
        b"abcd"
    )
