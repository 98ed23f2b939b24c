"""Domain errors -> HTTP status and the words people read, in one place."""

from __future__ import annotations

from datetime import datetime

from twofold.core import errors as e

CODE_MISMATCH = (
    "That code didn't match. Codes change every 30 seconds — try the newest one. "
    "If your phone's clock is off, turn on automatic time."
)

MESSAGES: dict[type[e.TwofoldError], str] = {
    e.InvalidCredentials: (
        "That login name or password is not right. Check both and try again. Just signed "
        "up? Open the confirmation link we emailed you first."
    ),
    e.WrongPassword: "That is not your current password. Try again.",
    e.MalformedCode: "Enter the 6-digit code from your authenticator app, digits only.",
    e.MalformedRecoveryCode: (
        "A recovery code has 16 letters and digits, like 4kq2-9xmv-t7ha-3np8. Check what you typed."
    ),
    e.InvalidCode: CODE_MISMATCH,
    e.CodeReused: (
        "That code was used already. Wait for your app to show a new code (they change every "
        "30 seconds) and enter that one."
    ),
    e.InvalidRecoveryCode: (
        "That recovery code isn't valid, or it was used already. Each code works once."
    ),
    e.TwoFactorAlreadyEnabled: "Two-factor authentication is already on for your account.",
    e.TwoFactorNotEnabled: "Two-factor authentication is not on for your account.",
    e.EnrollmentNotStarted: (
        "Your setup took too long and the key expired. Scan the new QR code and try again."
    ),
    e.NotPasswordVerified: "Your sign-in expired. Enter your password again.",
    e.InvalidToken: (
        "This link is not valid. It may have been used already or have expired. Ask for a new one."
    ),
    e.NotFound: "We couldn't find that.",
    e.Forbidden: "You are not allowed to do that here.",
    e.ReenrollmentLinkRequired: (
        "An administrator reset two-factor authentication for your account. Open the link we "
        "emailed you to set it up again (it works once, for 24 hours). Lost it? Ask your "
        "administrator for a new reset."
    ),
}

STATUS: dict[type[e.TwofoldError], int] = {
    e.PasswordAttemptsThrottled: 429,
    e.SecondFactorLocked: 429,
    e.InvalidToken: 404,
    e.NotFound: 404,
    e.Forbidden: 403,
    e.ReenrollmentLinkRequired: 403,
    e.NotPasswordVerified: 401,
}


def and_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"{minutes} minutes"


def message_for(error: e.TwofoldError, now: datetime | None = None) -> str:
    if isinstance(error, e.InvalidInput | e.AlreadyExists | e.ConfigurationError | e.Forbidden):
        return error.detail or MESSAGES[e.Forbidden]
    if isinstance(error, e.NotFound) and error.detail and error.detail != error.code:
        return error.detail
    if isinstance(error, e.TwoFactorRequired):
        return (
            "You can't turn off two-factor authentication: it is required for "
            f"{and_list(error.reasons)}."
        )
    if isinstance(error, e.PasswordAttemptsThrottled):
        return (
            "Too many wrong passwords. For your safety, wait "
            f"{_wait_words(error.retry_after_seconds)} before trying again."
        )
    if isinstance(error, e.SecondFactorLocked):
        if error.until is None:
            return (
                "Too many wrong codes: two-factor sign-in is locked for this account. "
                "Ask your administrator to unlock it."
            )
        wait = ""
        if now is not None:
            wait = f" (about {_wait_words(max(1, int((error.until - now).total_seconds())))})"
        return (
            "Too many wrong codes: two-factor sign-in is locked until "
            f"{error.until:%H:%M} UTC{wait}. You can try again then."
        )
    for kind in type(error).__mro__:
        if kind in MESSAGES:
            return MESSAGES[kind]
    return "Something went wrong. Please try again."


def status_for(error: e.TwofoldError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def field_of(error: e.TwofoldError) -> str | None:
    return getattr(error, "field", None)
