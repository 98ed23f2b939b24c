"""Random tokens (links, sessions), their digests as stored, and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_MIN_TOKEN_BYTES = 16


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token; at least 128 bits so short tokens cannot slip in."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"nbytes must be int, not {type(nbytes).__name__}")
    if nbytes < _MIN_TOKEN_BYTES:
        raise ValueError(f"nbytes must be at least {_MIN_TOKEN_BYTES}")
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> bytes:
    """SHA-256 of a token: tokens are high-entropy, so a fast unkeyed hash suffices at rest."""
    if not isinstance(token, str):
        raise TypeError(f"token must be str, not {type(token).__name__}")
    if not token:
        raise ValueError("token must not be empty")
    return hashlib.sha256(token.encode("utf-8")).digest()


def constant_time_equals(a: bytes | str, b: bytes | str) -> bool:
    """Compare secrets without leaking where they differ through timing."""
    return hmac.compare_digest(_as_bytes("a", a), _as_bytes("b", b))


def _as_bytes(name: str, value: bytes | str) -> bytes:
    """UTF-8 for str, so str and bytes compare alike and non-ASCII str does not raise."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return require_bytes(name, value)


def require_bytes(name: str, value: object) -> bytes:
    """Reject str and other look-alikes early: silently encoding them hides caller bugs."""
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value
