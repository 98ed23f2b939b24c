"""Which address a request comes from: THE client-IP rule, pure (decision 0020).

The connecting peer is the client unless it is one of the operator's trusted proxies
(TWOFOLD_TRUSTED_PROXIES). From a trusted peer, X-Forwarded-For is read from the right —
each proxy appends the address it received the request from — skipping trusted addresses;
the first untrusted one is the client. Entries left of it are whatever the client sent and
are never believed. An entry that is not an IP address stops the walk: the last address
reached (a trusted proxy, or the peer) is the client then, never the unreadable entry nor
anything left of it. When every entry is trusted, the left-most is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
TrustedProxies = tuple[Network, ...]

MAX_HOPS = 30  # entries examined per request, however long the header
LOOPBACK: TrustedProxies = (
    ipaddress.IPv4Network("127.0.0.1/32"),
    ipaddress.IPv6Network("::1/128"),
)
EVERY_ADDRESS: TrustedProxies = (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0"))


def parse_trusted_proxies(value: str | None) -> TrustedProxies:
    """Addresses and CIDR networks separated by commas and/or spaces (IPv4 and IPv6; a
    single address means just that host). Raises ValueError naming an entry that is not
    one, or that has host bits set (10.0.0.5/24: write 10.0.0.0/24)."""
    networks: list[Network] = []
    for entry in (value or "").replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError:
            try:
                loose = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or a CIDR network such as 10.0.0.0/8"
                ) from None
            raise ValueError(f"{entry!r} has host bits set: did you mean {loose}?") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as peers and X-Forwarded-For give it: `1.2.3.4`, `1.2.3.4:port`,
    `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:port`; an IPv4-mapped IPv6 address
    as its IPv4 address. None for anything else (`unknown`, a host name, an empty entry)."""
    text = text.strip()
    if "%" in text:  # an IPv6 zone: meaningless beyond the link it names
        return None
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
        text = inside
    elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has two colons or more
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    digits = text[1:]
    return text.startswith(":") and digits.isascii() and digits.isdigit() and len(digits) <= 5


def is_trusted(address: Address | None, trusted: TrustedProxies) -> bool:
    return address is not None and any(address in network for network in trusted)


def client_ip(
    peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies
) -> str | None:
    """The client's address for a request from `peer` carrying these X-Forwarded-For header
    values (several headers are read as one list, in order). An untrusted or unreadable
    peer is the client whatever the header says; the answer is the peer as given or, when
    it comes from the header, the address in its normal form (no port, no brackets)."""
    peer_address = parse_address(peer) if peer else None
    if not is_trusted(peer_address, trusted):
        return peer
    entries = ",".join(forwarded_for).split(",")
    client = peer
    for hop, entry in enumerate(reversed(entries)):
        if hop == MAX_HOPS:
            break
        if not entry.strip():
            continue  # an empty list element (`a,,b`) is allowed by HTTP's list syntax
        address = parse_address(entry)
        if address is None:
            break
        client = str(address)
        if not is_trusted(address, trusted):
            break
    return client
