"""tidings.webhooks.targets: which webhook URLs may be called (no DNS in these tests)."""

from __future__ import annotations

import ipaddress

import pytest

from tidings.webhooks.targets import is_public, parse_networks, refusal


def test_parse_networks() -> None:
    assert parse_networks(None) == []
    assert parse_networks("") == []
    assert parse_networks(" 10.0.0.0/8 , ,192.168.1.7,::1") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
    ]
    # Host bits set are accepted (strict=False).
    assert parse_networks("10.1.2.3/8") == [ipaddress.ip_network("10.0.0.0/8")]
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks("not-a-network")


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1"],
)
def test_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
    assert refusal(f"https://{_host(address)}/hook", []) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "127.255.0.9",
        "10.1.2.3",  # private
        "172.16.0.1",
        "192.168.0.10",
        "169.254.169.254",  # link-local (cloud metadata)
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    why = refusal(f"http://{_host(address)}:8080/x", [])
    assert why is not None
    assert "not a public address" in why
    assert "TIDINGS_WEBHOOK_ALLOWED_NETWORKS" in why


def test_global_multicast_is_refused() -> None:
    # ff0e::/16 multicast is "global" scope, but never a webhook target.
    assert not is_public(ipaddress.ip_address("ff0e::1"))


def test_allowlist() -> None:
    allowed = parse_networks("127.0.0.0/8,fd00::/8")
    assert refusal("http://127.0.0.1:9000/hook", allowed) is None
    assert refusal("http://[fd00::5]/hook", allowed) is None
    assert refusal("http://10.0.0.1/hook", allowed) is not None
    assert refusal("http://[::1]/hook", allowed) is not None


@pytest.mark.parametrize(
    "url",
    ["ftp://8.8.8.8/x", "file:///etc/passwd", "8.8.8.8/hook", "http:///nohost", "", "//8.8.8.8/x"],
)
def test_only_absolute_http_urls(url: str) -> None:
    assert refusal(url, []) == "url must be an absolute http or https URL"


def test_names_are_left_to_resolution() -> None:
    # Without resolving, a name cannot be judged here; the caller resolves before sending.
    assert refusal("https://hooks.example.com/x", [], resolve=False) is None
    assert refusal("http://localhost/x", [], resolve=False) is None


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "2002:7f00:1::1", "::7f00:1"])
def test_ipv6_embedding_a_private_ipv4_is_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
