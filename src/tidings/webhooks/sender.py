"""One HTTP attempt, over aiohttp, to an address checked when connecting.

The URL was checked when the webhook was saved, but a host name can resolve elsewhere by
the time of the attempt (DNS rebinding). So the session resolves through
``CheckedResolver``, which refuses any address that is not public unless an allowlisted
network holds it, and aiohttp connects to the very address that was checked: nothing is
resolved twice. A literal IP address in the URL is checked before the request. Redirects
are never followed (a 3xx is a failure), and every attempt is bounded by the timeouts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from tidings.clock import Clock
from tidings.webhooks.targets import Network, is_public

RESPONSE_EXCERPT_BYTES = 1024


class TargetRefused(OSError):
    """The target resolved to an address that webhooks may not reach."""


def allowed_address(address: str, allowed: list[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return is_public(ip) or any(ip in network for network in allowed)


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses webhooks may reach."""

    def __init__(self, allowed: list[Network]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if allowed_address(r["host"], self._allowed)]
        if not kept:
            raise TargetRefused(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def session(allowed: list[Network], connect_timeout: float, total_timeout: float) -> Any:
    """One keep-alive session for all of a dispatcher's attempts."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allowed), limit=0, ttl_dns_cache=None, use_dns_cache=False
    )
    timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt came to."""

    started_at: datetime
    latency_ms: int
    status: int | None  # None: no HTTP answer
    retry_after: float | None = None
    response_body: str | None = None
    error_class: str | None = None
    error: str | None = None


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    allowed: list[Network],
    clock: Clock,
) -> Sent:
    started, began = clock(), time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - began) * 1000)

    # The host as aiohttp will connect to it (yarl normalises full-width digits and the
    # like into a literal address, which aiohttp connects to without resolving it).
    host = yarl.URL(url).raw_host or ""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None and not allowed_address(str(literal), allowed):
        return Sent(started, 0, None, error_class="TargetRefused", error=f"{host} is not public")
    try:
        async with client.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            allow_redirects=False,
        ) as response:
            excerpt = await response.content.read(RESPONSE_EXCERPT_BYTES)
            return Sent(
                started,
                elapsed(),
                response.status,
                retry_after=retry_after(response.headers.get("Retry-After"), started),
                response_body=excerpt.decode("utf-8", "replace"),
            )
    except TimeoutError as exc:
        return Sent(started, elapsed(), None, error_class="Timeout", error=str(exc) or "timed out")
    except (aiohttp.ClientError, OSError, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError):
            raise
        cause = exc.__cause__ if isinstance(exc.__cause__, TargetRefused) else exc
        return Sent(started, elapsed(), None, error_class=type(cause).__name__, error=str(cause))


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: a number, or an HTTP date (one without a
    zone is taken as UTC); None for anything else, whatever the receiver sent."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None
