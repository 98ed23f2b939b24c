"""CSRF tokens: an HMAC, under a key-ring subkey, of a random per-browser cookie and the
time of issue. A token from another browser, another server key, or older than
TOKEN_LIFETIME is refused."""

from __future__ import annotations

import hashlib
import hmac

from twofold.crypto.tokens import constant_time_equals, new_token

COOKIE_NAME = "twofold_csrf"
TOKEN_LIFETIME_SECONDS = 4 * 3600


def new_cookie_value() -> str:
    return new_token(24)


def make_token(key: bytes, cookie_value: str, now_unix: int) -> str:
    return f"{now_unix}.{_mac(key, cookie_value, now_unix)}"


def _mac(key: bytes, cookie_value: str, issued: int) -> str:
    message = f"{cookie_value}|{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def token_is_valid(key: bytes, cookie_value: str | None, token: str, now_unix: int) -> bool:
    if not cookie_value or not token or len(token) > 100:
        return False
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    if not 0 <= now_unix - issued <= TOKEN_LIFETIME_SECONDS:
        return False
    return constant_time_equals(mac, _mac(key, cookie_value, issued))
