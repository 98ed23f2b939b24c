"""Shape rules for what people type, shared by the pages, the API and the CLI."""

from __future__ import annotations

import re
from datetime import timedelta

from twofold.core import words
from twofold.core.errors import InvalidInput

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PASSWORD_MIN = 10
PASSWORD_MAX = 256
MAX_CODE_INPUT = 64


def normalize_login(raw: str) -> str:
    login = raw.strip().lower()
    if not LOGIN_PATTERN.fullmatch(login):
        raise InvalidInput("login", words.LOGIN_SHAPE)
    return login


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInput("email", words.EMAIL_SHAPE)
    return email


def check_password_length(password: str, field: str = "new_password") -> None:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(field, words.PASSWORD_TOO_SHORT(min=PASSWORD_MIN))
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(field, words.PASSWORD_TOO_LONG(max=PASSWORD_MAX))


_DURATION_PART = re.compile(r"(\d+)([dhms])")
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_DURATION = timedelta(days=365)


def parse_duration(raw: str, field: str = "duration") -> timedelta:
    """`24h`, `30m`, `2d`, `1h30m`, `90s` or `0`; at most MAX_DURATION."""
    text = raw.strip().lower()
    if text == "0":
        return timedelta(0)
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(field, words.DURATION_SHAPE(given=raw[:40]))
    too_long = InvalidInput(field, words.DURATION_TOO_LONG(days=MAX_DURATION.days))
    if any(len(number) > 6 for number, _unit in parts):
        raise too_long  # and timedelta could not hold it
    total = sum(
        (timedelta(**{_DURATION_UNITS[unit]: int(number)}) for number, unit in parts), timedelta()
    )
    if total > MAX_DURATION:
        raise too_long
    return total
