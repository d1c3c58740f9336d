"""A client's ``fileName`` is stored as its base name, never a path, and is sent back in
``Content-Disposition`` in RFC 6266's form (``filename*`` with an ASCII ``filename``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlalchemy import select

from tests.api.support import ApiClient, Desk, create_conversation, new_conversation
from tidings.db import schema
from tidings.db.engine import Database

NAMES = [
    ("../../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
    ("/var/tmp/report.pdf", "report.pdf"),
    ("C:\\Users\\ada\\Отчёт за май.pdf", "Отчёт за май.pdf"),
    ("line\r\nSet-Cookie: a=b.txt", "lineSet-Cookie: a=b.txt"),
    ("bidi\u202egpj.exe", "bidigpj.exe"),
    ("../..", "attachment"),
]


def _file(name: str) -> dict[str, str]:
    return {"fileName": name, "mimeType": "text/plain", "data": "YQ=="}


def _disposition(client: ApiClient, attachment: dict[str, Any]) -> tuple[str, str]:
    response = client.get(attachment["fileUrl"])
    assert response.status_code == 200, response.text
    assert response.content == b"a"
    header = response.headers["content-disposition"]
    assert header.startswith('attachment; filename="')
    plain, encoded = header[len('attachment; filename="') :].split("\"; filename*=UTF-8''")
    assert plain.isascii()
    return plain, unquote(encoded)


def test_file_names_are_reduced_to_base_names(client: ApiClient, desk: Desk, db: Database) -> None:
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [_file(given) for given, _ in NAMES]
    convo = create_conversation(client, body)
    files = convo["_embedded"]["threads"][0]["_embedded"]["attachments"]
    expected = [stored for _, stored in NAMES]
    assert [f["fileName"] for f in files] == expected
    with db.read() as conn:
        stored = conn.execute(select(schema.attachments.c.file_name).order_by("id")).scalars()
        assert list(stored) == expected
    for attachment, name in zip(files, expected, strict=True):
        plain, exact = _disposition(client, attachment)
        assert exact == name
        assert "/" not in plain
        assert "\\" not in plain


def test_a_reply_attachment_is_reduced_too(client: ApiClient, desk: Desk) -> None:
    convo = create_conversation(client, new_conversation(desk.mailbox))
    response = client.post(
        f"/api/conversations/{convo['id']}/threads",
        json={
            "type": "note",
            "text": "see file",
            "user": desk.agent,
            "attachments": [_file("../../home/ada/.ssh/id_rsa")],
        },
    )
    assert response.status_code == 201, response.text
    [attachment] = response.json()["_embedded"]["attachments"]
    assert attachment["fileName"] == "id_rsa"
    assert _disposition(client, attachment) == ("id_rsa", "id_rsa")


def test_non_ascii_names_keep_their_exact_form_in_filename_star(
    client: ApiClient, desk: Desk
) -> None:
    body = new_conversation(desk.mailbox)
    body["threads"][0]["attachments"] = [_file("naïve café.txt"), _file("報告.txt")]
    files = create_conversation(client, body)["_embedded"]["threads"][0]["_embedded"]["attachments"]
    assert _disposition(client, files[0]) == ("naive cafe.txt", "naïve café.txt")
    assert _disposition(client, files[1]) == ("__.txt", "報告.txt")
