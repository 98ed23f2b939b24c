"""TOTP shared secrets: generation and the base32 text form users type or scan."""

import base64
import secrets

SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 output size recommended by RFC 4226
_MIN_SECRET_BYTES = 16  # RFC 4226 section 4: at least 128 bits
_BASE32_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz")


def generate_secret(nbytes: int = SECRET_BYTES) -> bytes:
    """A fresh secret from the OS CSPRNG; short secrets are refused."""
    if not isinstance(nbytes, int) or nbytes < _MIN_SECRET_BYTES:
        raise ValueError(f"a secret needs at least {_MIN_SECRET_BYTES} bytes")
    return secrets.token_bytes(nbytes)


def encode_secret(secret: bytes) -> str:
    """Upper-case base32 without '=' padding, as authenticator apps expect it."""
    if not secret:
        raise ValueError("secret must not be empty")
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def decode_secret(text: str) -> bytes:
    """Read a secret back, forgiving case, spaces and missing padding but nothing else."""
    compact = "".join(text.split()).rstrip("=")
    if not compact:
        raise ValueError("secret text is empty")
    # Check before upper-casing: a dotless i (U+0131) upper-cases to 'I' and would sneak in.
    if not all(ch in _BASE32_CHARS for ch in compact):
        raise ValueError("secret text is not base32")
    padded = compact.upper() + "=" * (-len(compact) % 8)
    try:
        return base64.b32decode(padded)
    except ValueError as exc:  # binascii.Error: impossible lengths such as 1, 3 or 6 mod 8
        raise ValueError("secret text is not valid base32") from exc


def group_for_display(text: str, size: int = 4) -> str:
    """Split into space-separated groups so a person can read the secret aloud or type it."""
    if not isinstance(size, int) or size < 1:
        raise ValueError("size must be a positive integer")
    return " ".join(text[i : i + size] for i in range(0, len(text), size))
