"""Shape rules for login names, email addresses, password lengths and durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from twofold.core.errors import InvalidInput
from twofold.core.validation import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    check_password_length,
    normalize_email,
    normalize_login,
    parse_duration,
)
from twofold.core.words import translate


def test_login_is_trimmed_and_lower_cased() -> None:
    assert normalize_login("  Alice.Smith_2 ") == "alice.smith_2"


@pytest.mark.parametrize("login", ["ab", "a" * 64, "0-day", "x.y"])
def test_login_within_the_rules_is_accepted(login: str) -> None:
    assert normalize_login(login) == login


@pytest.mark.parametrize(
    "login", ["", "a", "a" * 65, ".alice", "-alice", "_alice", "al ice", "alice@x", "ålice"]
)
def test_login_outside_the_rules_is_refused_on_the_login_field(login: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_login(login)
    assert caught.value.field == "login"


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Bob@Example.ORG ") == "bob@example.org"


@pytest.mark.parametrize(
    "email", ["", "bob", "bob@", "@example.org", "bob@example", "b ob@example.org", "a@b@c.org"]
)
def test_malformed_email_is_refused_on_the_email_field(email: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_email(email)
    assert caught.value.field == "email"


def test_email_longer_than_254_characters_is_refused() -> None:
    email = "bob@" + "a" * 246 + ".org"
    assert len(email) == 254
    assert normalize_email(email) == email
    with pytest.raises(InvalidInput):
        normalize_email("bob@" + "a" * 247 + ".org")


def test_email_local_part_longer_than_64_characters_is_refused() -> None:
    with pytest.raises(InvalidInput):
        normalize_email("b" * 65 + "@example.org")


def test_password_at_the_length_bounds_is_accepted() -> None:
    assert check_password_length("p" * PASSWORD_MIN) is None
    assert check_password_length("p" * PASSWORD_MAX) is None


def test_password_shorter_than_the_minimum_is_refused_with_the_bound() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_password_length("p" * (PASSWORD_MIN - 1))
    assert caught.value.field == "new_password"
    assert str(PASSWORD_MIN) in caught.value.detail


def test_password_longer_than_the_maximum_is_refused_with_the_bound() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_password_length("p" * (PASSWORD_MAX + 1), field="password")
    assert caught.value.field == "password"
    assert str(PASSWORD_MAX) in caught.value.detail


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("0", timedelta(0)),
        ("2d", timedelta(days=2)),
        (" 1H30m ", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("365d", timedelta(days=365)),
    ],
)
def test_a_duration_is_numbers_with_units(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "1.5h", "1 h", "1w", "24h!", "0h0x"])
def test_a_duration_without_a_unit_or_with_an_unknown_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text, "activate_after")
    assert caught.value.field == "activate_after"
    assert "is not a duration" in translate(caught.value.detail)


@pytest.mark.parametrize("text", ["366d", "9000h", "9999999999999999999999d"])
def test_a_duration_over_a_year_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(text)
    assert "at most 365 days" in translate(caught.value.detail)
