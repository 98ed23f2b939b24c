"""Sealing TOTP secrets at rest. The user id is bound in as associated data, so a sealed
secret copied onto another account's row does not open."""

from __future__ import annotations

from twofold.services.key_state import LiveKeyRing
from twofold.services.runtime import Runtime
from twofold.store.models import Authenticator


def secret_context(user_id: int) -> bytes:
    return f"totp-secret:user:{user_id}".encode()


def seal_secret(keys: LiveKeyRing, secret: bytes, user_id: int) -> tuple[str, bytes]:
    return keys.seal(secret, context=secret_context(user_id))


def open_secret(runtime: Runtime, authenticator: Authenticator, user_id: int) -> bytes:
    return runtime.keys.open(
        authenticator.secret_kid, authenticator.secret_sealed, context=secret_context(user_id)
    )
