"""The bulk form as the API's request body, and the typed-count rule (pure)."""

from __future__ import annotations

from tidings.console.bulk import describe, request_body, typed_count_ok
from tidings.console.web import Form


def form(**fields: str) -> Form:
    return Form({k: [v] for k, v in fields.items()})


def test_a_filter_keeps_only_what_was_chosen() -> None:
    body = request_body(
        form(
            action="delete",
            mailboxId="2",
            status="pending",
            state="",
            tag=" ",
            updatedBefore="2031-03-04T10:15",
        )
    )
    assert body == {
        "action": "delete",
        "filter": {"mailboxId": 2, "status": "pending", "updatedBefore": "2031-03-04T10:15:00Z"},
    }


def test_params_follow_the_action() -> None:
    status = request_body(form(action="status", paramStatus="closed", byUser="1", mailboxId="1"))
    assert status["params"] == {"status": "closed"}
    assert status["byUser"] == 1
    tagged = request_body(form(action="tag", paramTags="vip, refund,", mailboxId="1"))
    assert tagged["params"] == {"tags": ["vip", "refund"], "replace": False}
    assert "params" not in request_body(form(action="delete", mailboxId="1"))


def test_ids_replace_the_filter_and_text_is_left_for_the_service_to_refuse() -> None:
    body = request_body(form(action="restore", conversationIds="3, 5,x"))
    assert body == {"action": "restore", "conversationIds": [3, 5, "x"]}
    assert describe(body) == "3 chosen conversation(s)"
    assert describe({"filter": {"mailboxId": 1}}) == "mailboxId = 1"


def test_deleting_needs_the_count_typed() -> None:
    assert typed_count_ok("delete", "1,234", 1234)
    assert not typed_count_ok("delete", "1233", 1234)
    assert not typed_count_ok("empty_trash", None, 2)
    assert typed_count_ok("status", None, 2)
