"""Domain errors -> HTTP status and the words people read, in one place. The words
themselves live in the catalogue (twofold.core.words): each error carries its message and
this module renders it in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from twofold.core import errors as e
from twofold.core import words
from twofold.core.words import Words, translate

STATUS: dict[type[e.TwofoldError], int] = {
    e.PasswordAttemptsThrottled: 429,
    e.SecondFactorLocked: 429,
    e.SmsLimitReached: 429,
    e.SmsResendTooSoon: 429,
    e.RequestRateLimited: 429,
    e.SmsSendFailed: 503,
    e.InvalidToken: 404,
    e.NotFound: 404,
    e.Forbidden: 403,
    e.ReenrollmentLinkRequired: 403,
    e.NotPasswordVerified: 401,
}

# Errors whose own words (given where they are raised) are meant for the person at the page.
# Any other error shows the words of its kind: what it was raised with is for operators (key
# ids, settings) and is printed by the CLI instead.
OWN_WORDS_SHOWN = (e.InvalidInput, e.AlreadyExists, e.ConfigurationError, e.Forbidden, e.NotFound)


def and_list(items: Sequence[Words], locale: str | None = None) -> str:
    """ "a, b and c" (a template filter)."""
    return translate(words.and_list(items), locale)


def message_for(
    error: e.TwofoldError, now: datetime | None = None, locale: str | None = None
) -> str:
    if error.message is not None and isinstance(error, OWN_WORDS_SHOWN):
        return translate(error.message, locale)
    return translate(error.default_words(now), locale)


def status_for(error: e.TwofoldError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def field_of(error: e.TwofoldError) -> str | None:
    return getattr(error, "field", None)
