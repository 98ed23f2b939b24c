"""RFC 4226 HOTP: the counter-based code that TOTP is built on.

`hotp` is the reference: one code, one stdlib `hmac.digest`. `matching_counters` is the
checking path (a TOTP verification compares a typed code with three neighbouring codes):
RFC 2104's HMAC over hashlib, the key's inner and outer pads hashed once per call, then two
copies of those states and two short updates per counter, and each code compared in
constant time within the same loop. The stdlib's one-shot digest sets the key up again for
every code and `hmac.HMAC.copy` adds a Python wrapper per code; this costs about what three
bare one-shot digests do (decision 0025, docs/benchmarks.md). Tests hold the two paths
equal for every algorithm, digit count and key length (shorter and longer than a block)."""

import hashlib
import hmac
import struct
from collections.abc import Callable
from typing import Any

ALGORITHMS = ("SHA1", "SHA256", "SHA512")

_DIGEST_NAMES = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_HASHES: dict[str, Callable[..., Any]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}
_BLOCK_SIZES = {name: new().block_size for name, new in _HASHES.items()}
_ALLOWED_DIGITS = (6, 7, 8)
_TEMPLATES = {digits: f"%0{digits}d" for digits in _ALLOWED_DIGITS}
_COUNTER_LIMIT = 2**64  # the counter is packed as an unsigned 64-bit big-endian integer
_PACK_COUNTER = struct.Struct(">Q").pack
_UNPACK_WORD = struct.Struct(">I").unpack_from
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104 ipad, as a translation table
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))  # RFC 2104 opad


def _check(secret: bytes, digits: int, algorithm: str) -> None:
    if not secret:
        raise ValueError("secret must not be empty")
    if not isinstance(digits, int) or digits not in _ALLOWED_DIGITS:
        raise ValueError(f"digits must be one of {_ALLOWED_DIGITS}, got {digits!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "SHA1") -> str:
    """The code for `counter`, zero-padded to `digits` (RFC 4226 section 5.3)."""
    if not secret:
        raise ValueError("secret must not be empty")
    if not isinstance(counter, int) or not 0 <= counter < _COUNTER_LIMIT:
        raise ValueError("counter must be an integer in [0, 2**64)")
    _check(secret, digits, algorithm)
    mac = hmac.digest(secret, _PACK_COUNTER(counter), _DIGEST_NAMES[algorithm])
    # Dynamic truncation: the low nibble of the last byte picks 4 bytes; drop the sign bit.
    value: int = _UNPACK_WORD(mac, mac[-1] & 0x0F)[0]
    modulus: int = 10**digits
    return _TEMPLATES[digits] % ((value & 0x7FFFFFFF) % modulus)


def matching_counters(
    secret: bytes, counters: range, code: str, *, digits: int = 6, algorithm: str = "SHA1"
) -> list[int]:
    """The counters, ascending, whose code (as `hotp` gives it) equals `code`. Every code is
    computed and compared in constant time, with no early exit."""
    _check(secret, digits, algorithm)
    if counters.step != 1 or (counters and (counters.start < 0 or counters.stop > _COUNTER_LIMIT)):
        raise ValueError("counter must be an integer in [0, 2**64)")
    new = _HASHES[algorithm]
    block = _BLOCK_SIZES[algorithm]
    key = new(secret).digest() if len(secret) > block else secret  # RFC 2104 section 2
    key = key.ljust(block, b"\0")
    inner_copy = new(key.translate(_INNER_PAD)).copy
    outer_copy = new(key.translate(_OUTER_PAD)).copy
    modulus: int = 10**digits
    template = _TEMPLATES[digits]
    compare = hmac.compare_digest
    matches: list[int] = []
    for counter in counters:
        inner = inner_copy()
        inner.update(_PACK_COUNTER(counter))
        outer = outer_copy()
        outer.update(inner.digest())
        mac = outer.digest()
        (value,) = _UNPACK_WORD(mac, mac[-1] & 0x0F)  # dynamic truncation, as in `hotp`
        if compare(template % ((value & 0x7FFFFFFF) % modulus), code):
            matches.append(counter)
    return matches
