"""The sign-in state machine: a session is password-verified, then authenticated."""

from __future__ import annotations

from enum import StrEnum


class SessionState(StrEnum):
    # May reach only the code prompt; expires in minutes.
    PASSWORD_VERIFIED = "password_verified"
    AUTHENTICATED = "authenticated"


class SessionKind(StrEnum):
    """Who holds the token: a browser (the session cookie) or an API client (a bearer
    token). One kind's token is never accepted as the other's."""

    BROWSER = "browser"
    API = "api"


class Method(StrEnum):
    """Authentication methods, named as in RFC 8176 (amr values)."""

    PASSWORD = "pwd"
    TOTP = "otp"
    RECOVERY_CODE = "rcv"
    SMS = "sms"  # a code sent by text message
    # WebAuthn (decision 0027): a device-bound security key or passkey, or a synced passkey
    # (backup eligible); USER_VERIFICATION is the device's own PIN or biometric (passwordless).
    HARDWARE_KEY = "hwk"
    SOFTWARE_KEY = "swk"
    USER_VERIFICATION = "user"


def amr_string(methods: list[Method]) -> str:
    return " ".join(m.value for m in methods)


def amr_methods(amr: str) -> list[Method]:
    return [Method(v) for v in amr.split() if v in Method._value2member_map_]
