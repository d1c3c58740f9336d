"""Attachment names: reduced to a base name on upload, sent back per RFC 6266 (pure)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tidings.api.disposition import content_disposition
from tidings.desk.threads import safe_file_name


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("report.pdf", "report.pdf"),
        ("../../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\ada\\report.pdf", "report.pdf"),
        ("a/b\\c/d.txt", "d.txt"),
        ("evil\x00.txt", "evil.txt"),
        ("line\r\nX-Injected: 1.txt", "lineX-Injected: 1.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("bell\x07\x7f\x9b.txt", "bell.txt"),
        ("invoice\u202eexe.pdf", "invoiceexe.pdf"),
        ("  spaced  ", "spaced"),
        ("отчёт 2024.pdf", "отчёт 2024.pdf"),
        ('say "hi".txt', 'say "hi".txt'),
        (".bashrc", ".bashrc"),
        ("..", "attachment"),
        ("../", "attachment"),
        ("dir/..", "attachment"),
        ("\x00\x01", "attachment"),
        ("   ", "attachment"),
    ],
)
def test_safe_file_name(given: str, stored: str) -> None:
    assert safe_file_name(given) == stored
    assert "/" not in stored
    assert "\\" not in stored


def _parts(header: str) -> tuple[str, str]:
    assert header.startswith('attachment; filename="')
    plain, encoded = header[len('attachment; filename="') :].split("\"; filename*=UTF-8''")
    return plain, encoded


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("receipt.txt", "receipt.txt"),
        ("naïve café.txt", "naive cafe.txt"),
        ("отчёт 2024.pdf", "_____ 2024.pdf"),
        ('say "hi" 100%.txt', "say _hi_ 100_.txt"),
        ("日本語.txt", "___.txt"),
        ("emoji 🎉.png", "emoji _.png"),
    ],
)
def test_content_disposition(name: str, fallback: str) -> None:
    header = content_disposition(name)
    header.encode("latin-1")  # a header Starlette can send
    assert header.isascii()
    plain, encoded = _parts(header)
    assert plain == fallback
    assert unquote(encoded) == name
    # RFC 5987 attr-chars only: nothing that ends the parameter or the header.
    assert not set(encoded) & set(' ";\\\r\n')


def test_content_disposition_of_a_name_stored_before_names_were_reduced() -> None:
    plain, encoded = _parts(content_disposition("../../etc/passwd"))
    assert (plain, unquote(encoded)) == ("passwd", "passwd")
