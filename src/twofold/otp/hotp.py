"""RFC 4226 HOTP: the counter-based code that TOTP is built on."""

import hmac
import struct

ALGORITHMS = ("SHA1", "SHA256", "SHA512")

_DIGEST_NAMES = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_ALLOWED_DIGITS = (6, 7, 8)
_COUNTER_LIMIT = 2**64  # the counter is packed as an unsigned 64-bit big-endian integer


def hotp(secret: bytes, counter: int, *, digits: int = 6, algorithm: str = "SHA1") -> str:
    """The code for `counter`, zero-padded to `digits` (RFC 4226 section 5.3)."""
    if not secret:
        raise ValueError("secret must not be empty")
    if not isinstance(counter, int) or not 0 <= counter < _COUNTER_LIMIT:
        raise ValueError("counter must be an integer in [0, 2**64)")
    if not isinstance(digits, int) or digits not in _ALLOWED_DIGITS:
        raise ValueError(f"digits must be one of {_ALLOWED_DIGITS}, got {digits!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")

    mac = hmac.digest(secret, struct.pack(">Q", counter), _DIGEST_NAMES[algorithm])
    # Dynamic truncation: the low nibble of the last byte picks 4 bytes; drop the sign bit.
    offset = mac[-1] & 0x0F
    (value,) = struct.unpack(">I", mac[offset : offset + 4])
    return str((value & 0x7FFFFFFF) % 10**digits).zfill(digits)
