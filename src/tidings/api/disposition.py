"""``Content-Disposition`` for a stored file name (RFC 6266), pure."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from tidings.desk.threads import safe_file_name


def content_disposition(file_name: str) -> str:
    """``attachment`` with the exact name in ``filename*`` (UTF-8, percent-encoded) and
    a plain ASCII ``filename`` for clients that do not read ``filename*`` (RFC 6266
    section 4.3: the fallback goes first, and avoids ``%`` and ``\\``)."""
    name = safe_file_name(file_name)  # names stored before they were reduced on upload
    fallback = "".join(_ascii(char) for char in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _ascii(char: str) -> str:
    """``é`` -> ``e``; what has no ASCII form, or would need quoting, -> ``_``."""
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    if plain and all(" " <= p <= "~" and p not in '"\\%' for p in plain):
        return plain
    return "_"
