"""A short text sealed (AES-GCM under the key ring, with a context naming its use) as one
printable value, `kid.base64url`, for a cookie: the browser can neither read nor change it.
The one home of that format (decision 0016): the pending sign-ins and the domain cookie."""

from __future__ import annotations

import base64
import binascii
from typing import Protocol


class Sealer(Protocol):
    def seal(self, plaintext: bytes, *, context: bytes) -> tuple[str, bytes]: ...

    def open(self, kid: str, sealed: bytes, *, context: bytes) -> bytes: ...


def seal_text(keys: Sealer, text: str, *, context: bytes) -> str:
    kid, sealed = keys.seal(text.encode(), context=context)
    return f"{kid}.{base64.urlsafe_b64encode(sealed).decode('ascii')}"


def open_text(keys: Sealer, value: str | None, *, context: bytes, max_length: int) -> str | None:
    """The text, unless the value is absent, too long, malformed, tampered with or sealed for
    another context."""
    if not value or len(value) > max_length or "." not in value:
        return None
    kid, _, encoded = value.partition(".")
    try:
        return keys.open(kid, base64.urlsafe_b64decode(encoded), context=context).decode()
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
