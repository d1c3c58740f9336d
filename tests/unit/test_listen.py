"""The pure parts of ``tidings listen``: which deliveries it accepts, which it hands on.

Signatures are made with the ``standardwebhooks`` package, not with Tidings' own signing
code, so a mistake shared by the signer and the checker cannot hide here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from tidings import listen_cli
from tidings.listen_cli import Handled, exec_environment, forwarded_headers, signature_problem

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_dGhlIG90aGVyIHNlY3JldCwgcm90YXRlZA=="
NOW = 1_800_000_000
BODY = b'{"id":7,"firstName":"Lis"}'


def signed(
    body: bytes = BODY, at: int = NOW, secret: str = SECRET, msg: str = "msg_1"
) -> dict[str, str]:
    when = datetime.fromtimestamp(at, UTC)
    return {
        "webhook-id": msg,
        "webhook-timestamp": str(at),
        "webhook-signature": Webhook(secret).sign(msg, when, body.decode()),
    }


def test_a_delivery_signed_with_the_secret_passes() -> None:
    assert signature_problem(signed(), BODY, SECRET, NOW) is None
    assert signature_problem(signed(at=NOW - 299), BODY, SECRET, NOW) is None


def test_any_of_several_signatures_passes() -> None:
    # During a rotation's grace period Tidings sends one signature per live secret.
    headers = signed()
    headers["webhook-signature"] = (
        f"{signed(secret=OTHER)['webhook-signature']} " + (headers["webhook-signature"])
    )
    assert signature_problem(headers, BODY, SECRET, NOW) is None
    assert signature_problem(headers, BODY, OTHER, NOW) is None


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        ({}, BODY, "not a Standard Webhooks request"),
        ({**signed(), "webhook-signature": ""}, BODY, "not a Standard Webhooks request"),
        ({**signed(), "webhook-timestamp": "soon"}, BODY, "not a number"),
        ({**signed(), "webhook-timestamp": "\uff11\uff12"}, BODY, "not a number"),
        (signed(at=NOW - 301), BODY, "more than 5 minutes away"),
        (signed(at=NOW + 301), BODY, "more than 5 minutes away"),
        (signed(secret=OTHER), BODY, "no signature matches"),
        (signed(), BODY + b" ", "no signature matches"),
        (signed(), BODY[:-1], "no signature matches"),
        ({**signed(), "webhook-id": "msg_2"}, BODY, "no signature matches"),
        ({**signed(), "webhook-signature": "v1,!!"}, BODY, "no signature matches"),
    ],
)
def test_what_is_refused(headers: dict[str, str], body: bytes, why: str) -> None:
    problem = signature_problem(headers, body, SECRET, NOW)
    assert problem is not None
    assert why in problem


def test_a_delivery_is_handed_on_once() -> None:
    handled = Handled()
    assert handled.start("msg_1") is None
    assert handled.start("msg_1") == "duplicate: being handled now"
    handled.finish("msg_1", ok=True)
    assert handled.start("msg_1") == "duplicate: handled already"


def test_a_failed_hand_on_is_forgotten_so_the_retry_runs() -> None:
    handled = Handled()
    assert handled.start("msg_1") is None
    handled.finish("msg_1", ok=False)
    assert handled.start("msg_1") is None


def test_the_oldest_ids_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listen_cli, "REMEMBERED", 2)
    handled = Handled()
    for message_id in ("a", "b", "c"):
        assert handled.start(message_id) is None
        handled.finish(message_id, ok=True)
    assert handled.start("a") is None
    assert handled.start("c") == "duplicate: handled already"


def test_hop_by_hop_headers_are_not_forwarded() -> None:
    headers = {
        "Host": "127.0.0.1:5000",
        "Content-Length": "27",
        "Connection": "keep-alive",
        "Content-Type": "application/json",
        "X-FreeScout-Event": "customer.created",
        **signed(),
    }
    assert dict(forwarded_headers(headers)) == {
        "Content-Type": "application/json",
        "X-FreeScout-Event": "customer.created",
        **signed(),
    }


def test_the_command_learns_the_delivery_from_its_environment() -> None:
    env = exec_environment(
        {
            "X-FreeScout-Event": "convo.created",
            "X-Tidings-Sequence": "4",
            "X-Tidings-Event-Id": "evt_1",
            "X-Tidings-Event-Seq": "99",
            **signed(),
        }
    )
    assert (
        env.items()
        >= {
            "TIDINGS_EVENT_TYPE": "convo.created",
            "TIDINGS_DELIVERY_ID": "msg_1",
            "TIDINGS_TIMESTAMP": str(NOW),
            "TIDINGS_SEQUENCE": "4",
            "TIDINGS_EVENT_ID": "evt_1",
            "TIDINGS_EVENT_SEQ": "99",
        }.items()
    )
