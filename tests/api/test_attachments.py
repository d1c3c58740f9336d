"""Thread attachments (base64 in, exact bytes out through /api/attachments/{id}/data)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import pytest

from tests.api.support import (
    ATTACHMENT_KEYS,
    ApiClient,
    Desk,
    assert_invalid,
    assert_no_content,
    assert_not_found,
    create_conversation,
    new_conversation,
)

BINARY = bytes(range(256)) * 3 + b"\x00\xff\r\n"


def _file(name: str, mime: str, data: bytes) -> dict[str, str]:
    return {"fileName": name, "mimeType": mime, "data": base64.b64encode(data).decode()}


def _download(client: ApiClient, attachment: dict[str, Any]) -> Any:
    response = client.get(attachment["fileUrl"])
    assert response.status_code == 200, response.text
    return response


def test_attachments_round_trip(client: ApiClient, desk: Desk) -> None:
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [
        _file("hello.txt", "text/plain", b"hello\n"),
        _file("pixel.png", "image/png", BINARY),
        _file("empty.bin", "application/octet-stream", b""),
    ]
    convo = create_conversation(client, body)
    files = convo["_embedded"]["threads"][0]["_embedded"]["attachments"]
    assert [set(f) for f in files] == [ATTACHMENT_KEYS] * 3
    assert [(f["fileName"], f["mimeType"], f["size"]) for f in files] == [
        ("hello.txt", "text/plain", 6),
        ("pixel.png", "image/png", len(BINARY)),
        ("empty.bin", "application/octet-stream", 0),
    ]
    for f in files:
        assert f["fileUrl"] == f"/api/attachments/{f['id']}/data"

    text = _download(client, files[0])
    assert text.content == b"hello\n"
    assert text.headers["content-type"].startswith("text/plain")
    assert 'filename="hello.txt"' in text.headers["content-disposition"]
    image = _download(client, files[1])
    assert image.content == BINARY
    assert image.headers["content-type"] == "image/png"
    assert _download(client, files[2]).content == b""

    # The same attachments are listed when the conversation is read back.
    again = client.get(f"/api/conversations/{convo['id']}").json()
    assert again["_embedded"]["threads"][0]["_embedded"]["attachments"] == files


def test_attachment_on_a_new_thread(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    response = client.post(
        f"/api/conversations/{convo['id']}/threads",
        json={
            "type": "note",
            "text": "see file",
            "user": desk.agent,
            "attachments": [_file("report.csv", "text/csv; charset=utf-8", b"a,b\n1,2\n")],
        },
    )
    assert response.status_code == 201, response.text
    [attachment] = response.json()["_embedded"]["attachments"]
    assert attachment["mimeType"] == "text/csv; charset=utf-8"
    assert _download(client, attachment).content == b"a,b\n1,2\n"


def test_unicode_and_quoted_file_names_download(client: ApiClient, desk: Desk) -> None:
    body = new_conversation(desk.mailbox)
    names = ["отчёт 2024.pdf", 'say "hi" 100%.txt', "naïve café.txt"]
    body["threads"][0]["attachments"] = [_file(n, "application/pdf", b"%PDF") for n in names]
    files = create_conversation(client, body)["_embedded"]["threads"][0]["_embedded"]["attachments"]
    assert [f["fileName"] for f in files] == names
    for f in files:
        response = _download(client, f)
        assert response.content == b"%PDF"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment; ")
        # The exact name travels in filename* (RFC 6266), a plain ASCII one in filename.
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        assert unquote(encoded) == f["fileName"]
        plain = disposition.split('filename="', 1)[1].split('"; ', 1)[0]
        assert plain.isascii()
        assert '"' not in plain


def test_bad_attachments_are_refused(
    client: ApiClient, desk: Desk, counts: Any, subtests: pytest.Subtests
) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    good = _file("a.txt", "text/plain", b"a")
    cases = [
        ({**good, "data": "not base64!!"}, "data"),
        ({**good, "data": "YQ"}, "data"),
        ({**good, "data": "Y Q = ="}, "data"),
        ({**good, "data": 5}, "data"),
        ({"fileName": "a.txt", "mimeType": "text/plain", "fileUrl": "https://x/a"}, "data"),
        ({**good, "fileName": ""}, "fileName"),
        ({"mimeType": "text/plain", "data": "YQ=="}, "fileName"),
        ({**good, "mimeType": None}, "mimeType"),
        ({**good, "mimeType": "text"}, "mimeType"),
        ({**good, "mimeType": "text/plain\r\nX-Injected: 1"}, "mimeType"),
        ({**good, "mimeType": "текст/plain"}, "mimeType"),
    ]
    before = counts()
    for item, field in cases:
        with subtests.test(field=field, item=item):
            body = new_conversation(desk.mailbox)
            body["threads"][0]["attachments"] = [good, item]
            assert_invalid(
                client.post("/api/conversations", json=body),
                f"threads[0].attachments[1].{field}",
            )
            thread = {"type": "note", "text": "x", "user": desk.admin, "attachments": [item]}
            assert_invalid(
                client.post(f"/api/conversations/{convo['id']}/threads", json=thread),
                f"attachments[0].{field}",
            )
    with subtests.test("not an object"):
        body = new_conversation(desk.mailbox)
        body["threads"][0]["attachments"] = ["YQ=="]
        assert_invalid(client.post("/api/conversations", json=body), "threads[0].attachments[0]")
    assert counts() == before


def test_unknown_attachment(client: ApiClient, desk: Desk) -> None:
    assert_not_found(client.get("/api/attachments/1/data"))
    assert_invalid(client.get("/api/attachments/one/data"))
    assert_not_found(client.get("/api/attachments/1"))
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [_file("a.txt", "text/plain", b"a")]
    convo = create_conversation(client, body)
    url = convo["_embedded"]["threads"][0]["_embedded"]["attachments"][0]["fileUrl"]
    assert client.get(url).status_code == 200
    # Deleting the conversation forever deletes its files.
    assert_no_content(client.delete(f"/api/conversations/{convo['id']}"))
    assert_not_found(client.get(url))
