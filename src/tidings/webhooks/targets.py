"""Which webhook URLs may be called: pure policy, no I/O but name resolution.

Loopback, private, link-local, CGNAT, multicast and reserved targets are refused
unless an allowlisted network contains them (``TIDINGS_WEBHOOK_ALLOWED_NETWORKS``).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str | None) -> list[Network]:
    if not spec:
        return []
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    ]


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # An IPv6 form that tunnels an IPv4 address is only as public as that address.
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    return address.is_global and not address.is_multicast


def refusal(url: str, allowed: list[Network], resolve: bool = True) -> str | None:
    """Why ``url`` may not be a webhook target, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed lazily: out-of-range ports raise here
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "url must be an absolute http or https URL"
    try:
        addresses = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        if not resolve:
            return None
        try:
            infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
        except OSError:
            return f"cannot resolve host {parts.hostname}"
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        if not is_public(address) and not any(address in net for net in allowed):
            return (
                f"{address} is not a public address;"
                " allowlist it with TIDINGS_WEBHOOK_ALLOWED_NETWORKS"
            )
    return None
