"""Shape rules for what people type, shared by the pages, the API and the CLI."""

from __future__ import annotations

import re

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
