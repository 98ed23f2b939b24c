"""Shape rules for what people type, shared by the pages, the API and the CLI."""

from __future__ import annotations

import re

from twofold.core.errors import InvalidInput

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PASSWORD_MIN = 10
PASSWORD_MAX = 256
MAX_CODE_INPUT = 64


def normalize_login(raw: str) -> str:
    login = raw.strip().lower()
    if not LOGIN_PATTERN.fullmatch(login):
        raise InvalidInput(
            "login",
            "A login name is 2 to 64 characters: letters, digits, dots, dashes and "
            "underscores, starting with a letter or digit.",
        )
    return login


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInput("email", "That doesn't look like an email address.")
    return email


def check_password_length(password: str, field: str = "new_password") -> None:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(field, f"Use at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(field, f"Use at most {PASSWORD_MAX} characters.")
