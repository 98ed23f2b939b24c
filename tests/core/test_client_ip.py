"""THE client-IP rule (core.client_ip): a forwarding header is believed only from a trusted
proxy, read from the right, and never beyond the first address no trusted proxy vouches for."""

from __future__ import annotations

import ipaddress

import pytest

from twofold.core.client_ip import (
    LOOPBACK,
    MAX_HOPS,
    client_ip,
    parse_address,
    parse_trusted_proxies,
)

PROXIES = parse_trusted_proxies("10.0.0.0/8, 192.0.2.10 2001:db8:1::/48,::1")


# --- the operator's list ---------------------------------------------------------------


def test_the_list_takes_networks_and_single_addresses_separated_by_commas_or_spaces() -> None:
    assert parse_trusted_proxies(" 10.0.0.0/8,192.0.2.10  2001:db8:1::/48 ,, ::1 ") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.10/32"),
        ipaddress.ip_network("2001:db8:1::/48"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize("value", [None, "", "  ,  "])
def test_an_empty_list_trusts_no_one(value: str | None) -> None:
    assert parse_trusted_proxies(value) == ()


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("10.0.0.0/8, nginx", "'nginx'"),
        ("10.0.0.0/33", "'10.0.0.0/33'"),
        ("*", "'*'"),
        ("256.1.1.1", "'256.1.1.1'"),
        ("2001:db8::/129", "'2001:db8::/129'"),
        ("[::1]", "'[::1]'"),
    ],
)
def test_a_malformed_entry_is_refused_by_name(value: str, named: str) -> None:
    with pytest.raises(ValueError, match="is not an IP address or a CIDR network") as raised:
        parse_trusted_proxies(value)
    assert named in str(raised.value)


def test_a_network_with_host_bits_set_is_refused_with_the_network_it_may_mean() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.5/24' has host bits set.*10\.0\.0\.0/24"):
        parse_trusted_proxies("10.0.0.5/24")


# --- addresses as peers and headers give them ------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7:5123 ", "203.0.113.7"),
        ("2001:DB8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
    ],
)
def test_an_address_is_read_with_or_without_port_and_brackets(text: str, address: str) -> None:
    assert str(parse_address(text)) == address


@pytest.mark.parametrize(
    "text",
    [
        "unknown",
        "",
        "example.org",
        "203.0.113.7:port",
        "[2001:db8::7",
        "[2001:db8::7]x",
        "fe80::1%eth0",
        "203.0.113.7:123456",
        "_hidden",
    ],
)
def test_anything_else_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


# --- the rule ------------------------------------------------------------------------------


def test_an_untrusted_peer_is_the_client_whatever_its_header_says() -> None:
    assert client_ip("203.0.113.7", ["198.51.100.1"], PROXIES) == "203.0.113.7"


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip("10.0.0.1", ["198.51.100.1"], ()) == "10.0.0.1"


def test_a_trusted_peer_without_a_header_is_the_client() -> None:
    assert client_ip("10.0.0.1", [], PROXIES) == "10.0.0.1"
    assert client_ip("10.0.0.1", [" "], PROXIES) == "10.0.0.1"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_ip("10.0.0.1", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_forged_left_most_entries_are_never_believed() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1, 127.0.0.1"; the proxy appended its peer.
    forged = ["1.1.1.1, 127.0.0.1, 10.9.9.9, 198.51.100.1"]
    assert client_ip("10.0.0.1", forged, PROXIES) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_address() -> None:
    chain = ["198.51.100.1, 192.0.2.10, 10.1.1.1"]  # client, CDN edge, load balancer
    assert client_ip("10.0.0.1", chain, PROXIES) == "198.51.100.1"


def test_several_headers_are_one_list_in_their_order() -> None:
    assert client_ip("10.0.0.1", ["198.51.100.1", "10.1.1.1"], PROXIES) == "198.51.100.1"
    assert client_ip("10.0.0.1", ["10.1.1.1", "198.51.100.1"], PROXIES) == "198.51.100.1"
    assert client_ip("10.0.0.1", ["198.51.100.9", "198.51.100.1"], PROXIES) == "198.51.100.1"


def test_when_every_entry_is_trusted_the_left_most_is_the_client() -> None:
    assert client_ip("10.0.0.1", ["10.2.2.2, 10.1.1.1"], PROXIES) == "10.2.2.2"


def test_ipv6_peers_and_entries_with_brackets_and_ports() -> None:
    header = ["[2001:db8:ffff::9]:51234, [2001:db8:1::5]"]
    assert client_ip("2001:db8:1::1", header, PROXIES) == "2001:db8:ffff::9"
    assert client_ip("::1", ["2001:DB8:FFFF::9"], PROXIES) == "2001:db8:ffff::9"
    assert client_ip("2001:db8:2::1", header, PROXIES) == "2001:db8:2::1"  # not trusted


def test_an_ipv4_mapped_peer_is_trusted_as_its_ipv4_address() -> None:
    assert client_ip("::ffff:10.0.0.1", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_a_malformed_entry_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert client_ip("10.0.0.1", ["198.51.100.1, unknown, 10.1.1.1"], PROXIES) == "10.1.1.1"
    assert client_ip("10.0.0.1", ["198.51.100.1, <script>"], PROXIES) == "10.0.0.1"


def test_empty_list_elements_are_skipped() -> None:
    assert client_ip("10.0.0.1", ["198.51.100.1,, 10.1.1.1,"], PROXIES) == "198.51.100.1"


def test_the_walk_stops_after_the_cap_at_the_last_trusted_hop() -> None:
    hops = [f"10.0.0.{n}" for n in range(1, MAX_HOPS + 5)]
    header = ", ".join(["198.51.100.1", *hops])
    assert client_ip("10.0.0.1", [header], PROXIES) == hops[-MAX_HOPS]
    within = ", ".join(["198.51.100.1", *hops[-(MAX_HOPS - 1) :]])
    assert client_ip("10.0.0.1", [within], PROXIES) == "198.51.100.1"


def test_an_unreadable_or_missing_peer_is_returned_as_it_is() -> None:
    assert client_ip("testclient", ["198.51.100.1"], PROXIES) == "testclient"
    assert client_ip(None, ["198.51.100.1"], PROXIES) is None


def test_loopback_is_what_uvicorn_trusted_by_default() -> None:
    assert client_ip("127.0.0.1", ["198.51.100.1"], LOOPBACK) == "198.51.100.1"
    assert client_ip("::1", ["198.51.100.1"], LOOPBACK) == "198.51.100.1"
    assert client_ip("127.0.0.2", ["198.51.100.1"], LOOPBACK) == "127.0.0.2"
