"""Where a sign-in may send the browser back to (`rd`): THE redirect-target rule, pure.

A target is honoured only when it is an absolute URL whose host[:port] is exactly one of the
operator's allowed entries (case-insensitive, IDNA-normalised, no wildcards), over https —
or http for an entry written as `http://host[:port]` — without userinfo, backslash or
control characters. Anything else is ignored (None), never partly trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_TARGET_LENGTH = 2000
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class AllowedHost:
    """One entry of TWOFOLD_ALLOWED_REDIRECT_HOSTS: a normalised host, its port (None: the
    scheme's default) and the scheme it may be reached with."""

    scheme: str
    host: str
    port: int | None


def _normal_host(host: str) -> str | None:
    """Lower case, IDNA (punycode) form, no trailing dot; None when it is not a host name."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    if host.startswith("["):
        return host if host.endswith("]") and len(host) > 2 else None
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    if not all(c.isalnum() or c in "-." for c in ascii_host):
        return None
    return ascii_host


def _split_host_port(netloc: str) -> tuple[str, int | None] | None:
    """`host[:port]` (IPv6 in brackets) as (host, port); None when the port is not a number
    in range."""
    if netloc.startswith("["):
        host, bracket, rest = netloc.partition("]")
        if not bracket:
            return None
        host += "]"
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, colon, port_text = netloc.partition(":")
        if not colon:
            return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)


def _has_forbidden_character(text: str) -> bool:
    return "\\" in text or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def parse_allowed_hosts(value: str | None) -> tuple[AllowedHost, ...]:
    """The operator's comma-separated entries: `host[:port]` (https only) or
    `http://host[:port]` (http only). Raises ValueError for an entry that is not one."""
    entries: list[AllowedHost] = []
    for raw in (value or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        scheme = "https"
        lowered = entry.lower()
        for prefix in ("http://", "https://"):
            if lowered.startswith(prefix):
                scheme = prefix[:-3]
                entry = entry[len(prefix) :]
        if not entry or _has_forbidden_character(entry) or any(c in entry for c in "/?#@*"):
            raise ValueError(f"not a host[:port] entry: {raw.strip()!r}")
        split = _split_host_port(entry)
        host = _normal_host(split[0]) if split else None
        if split is None or host is None:
            raise ValueError(f"not a host[:port] entry: {raw.strip()!r}")
        port = split[1]
        entries.append(AllowedHost(scheme, host, None if port == _DEFAULT_PORTS[scheme] else port))
    return tuple(entries)


def allowed_target(target: str, allowed: tuple[AllowedHost, ...]) -> str | None:
    """`target` when the browser may be sent there after signing in, else None."""
    if not target or len(target) > MAX_TARGET_LENGTH or not allowed:
        return None
    if _has_forbidden_character(target) or target != target.strip():
        return None
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not target.lower().startswith(scheme + "://"):
        return None
    netloc = parts.netloc
    if not netloc or "@" in netloc:
        return None
    split = _split_host_port(netloc)
    if split is None:
        return None
    host = _normal_host(split[0])
    if host is None:
        return None
    port = None if split[1] == _DEFAULT_PORTS[scheme] else split[1]
    if AllowedHost(scheme, host, port) in allowed:
        return target
    return None


def origin_of(entry: AllowedHost) -> str:
    """The entry as a web origin (for a Content-Security-Policy source list)."""
    port = f":{entry.port}" if entry.port is not None else ""
    return f"{entry.scheme}://{entry.host}{port}"
