"""The message catalogue: every message renders with its parameters, English is the msgid
itself, a compiled translation is used when there is one, and each error says what it said
before the catalogue existed."""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from twofold.core import errors as e
from twofold.core import words
from twofold.core.words import Msg, Plural, Text, translate

CATALOGUE: dict[str, Msg | Plural] = {
    name: value for name, value in vars(words).items() if isinstance(value, Msg | Plural)
}


def sample_params(message: Msg | Plural) -> dict[str, words.Param]:
    return {name: 2 if name == "n" else f"<{name}>" for name in message.placeholders}


def test_the_catalogue_is_not_empty_and_names_are_constants() -> None:
    assert len(CATALOGUE) > 100
    assert all(name.isupper() for name in CATALOGUE)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_message_renders_with_every_placeholder_filled(name: str) -> None:
    message = CATALOGUE[name]
    params = sample_params(message)
    rendered = translate(message(**params))
    for placeholder, value in params.items():
        assert str(value) in rendered, placeholder
    # nothing left to fill: the only braces are those a value brought
    assert not [field for _, field, _, _ in string.Formatter().parse(rendered) if field]


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_english_is_the_msgid_itself(name: str) -> None:
    message = CATALOGUE[name]
    params = sample_params(message)
    english = message.msgid if isinstance(message, Msg) else message.plural
    assert translate(message(**params)) == english.format(**params)


def test_a_missing_or_unknown_parameter_is_refused_where_the_message_is_made() -> None:
    with pytest.raises(TypeError, match="login"):
        words.NO_SUCH_USER()
    with pytest.raises(TypeError, match="slug"):
        words.NO_SUCH_USER(login="bob", slug="acme")
    with pytest.raises(TypeError, match="n must be an int"):
        words.SECONDS(n="3")


def test_a_message_with_placeholders_cannot_be_shown_without_them() -> None:
    with pytest.raises(TypeError):
        translate(words.NO_SUCH_USER)


def test_only_plain_names_are_placeholders() -> None:
    with pytest.raises(ValueError, match="plain name"):
        _ = Msg("{user.password}").placeholders
    with pytest.raises(ValueError, match="plain name"):
        _ = Msg("{login!r}").placeholders


def test_a_plain_string_is_shown_as_given() -> None:
    assert translate("Acme {Inc}") == "Acme {Inc}"
    # values are data: braces in them are not filled in again
    assert translate(words.NO_SUCH_USER(login="{x}")) == "There is no user '{x}'."


@pytest.mark.parametrize(
    ("n", "said"), [(0, "0 seconds"), (1, "1 second"), (59, "59 seconds"), (89, "89 seconds")]
)
def test_short_waits_are_said_in_seconds(n: int, said: str) -> None:
    assert translate(words.wait_words(n)) == said


@pytest.mark.parametrize(
    ("n", "said"), [(90, "2 minutes"), (120, "2 minutes"), (900, "15 minutes")]
)
def test_long_waits_are_said_in_whole_minutes(n: int, said: str) -> None:
    assert translate(words.wait_words(n)) == said


@pytest.mark.parametrize(
    ("items", "said"),
    [
        ([], ""),
        (["Acme"], "Acme"),
        (["Acme", words.PLATFORM_ADMINISTRATORS], "Acme and platform administrators"),
        (["A", "B", "C", "D"], "A, B, C and D"),
    ],
)
def test_lists_are_joined_with_commas_and_and(items: list[words.Words], said: str) -> None:
    assert translate(words.and_list(items)) == said


# --- a translation ------------------------------------------------------------------------


@pytest.fixture
def german(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A compiled catalogue for "de" with a few entries, as `pybabel compile` would make."""
    catalog = Catalog(locale="de", domain=words.DOMAIN)
    catalog.add(words.NO_SUCH_USER.msgid, "Es gibt keinen Benutzer '{login}'.")
    catalog.add(words.PLATFORM_ADMINISTRATORS.msgid, "Plattform-Administratoren")
    catalog.add(words.LIST_AND.msgid, "{head} und {last}")
    catalog.add((words.SECONDS.singular, words.SECONDS.plural), ("{n} Sekunde", "{n} Sekunden"))
    catalog.add(
        words.PASSWORD_THROTTLED.msgid,
        "Zu viele falsche Passwörter. Warten Sie {wait}, bevor Sie es erneut versuchen.",
    )
    target = tmp_path / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / f"{words.DOMAIN}.mo").open("wb") as handle:
        write_mo(handle, catalog)
    monkeypatch.setattr(words, "LOCALE_DIR", tmp_path)
    words.translations.cache_clear()
    yield "de"
    words.translations.cache_clear()


def test_a_translation_is_used_for_its_language_and_english_stays_the_msgid(
    german: str,
) -> None:
    missing = words.NO_SUCH_USER(login="bob")
    assert translate(missing, german) == "Es gibt keinen Benutzer 'bob'."
    assert translate(missing) == "There is no user 'bob'."
    assert translate(missing, "fr") == "There is no user 'bob'."  # no catalogue: English


def test_parameters_that_are_messages_are_translated_too(german: str) -> None:
    reasons = words.and_list(["Acme", words.PLATFORM_ADMINISTRATORS])
    assert translate(reasons, german) == "Acme und Plattform-Administratoren"
    throttled = e.PasswordAttemptsThrottled(1).words_for()
    assert translate(throttled, german) == (
        "Zu viele falsche Passwörter. Warten Sie 1 Sekunde, bevor Sie es erneut versuchen."
    )
    assert "5 Sekunden" in translate(e.PasswordAttemptsThrottled(5).words_for(), german)


def test_an_untranslated_message_falls_back_to_english(german: str) -> None:
    assert translate(words.LOGIN_TAKEN, german) == "That login name is taken. Choose another."


# --- each error says what it said before (the table that was in twofold.web.errors) --------

BEFORE: dict[type[e.TwofoldError], str] = {
    e.InvalidCredentials: (
        "That login name or password is not right. Check both and try again. Just signed "
        "up? Open the confirmation link we emailed you first."
    ),
    e.WrongPassword: "That is not your current password. Try again.",
    e.MalformedCode: "Enter the 6-digit code from your authenticator app, digits only.",
    e.MalformedRecoveryCode: (
        "A recovery code has 16 letters and digits, like 4kq2-9xmv-t7ha-3np8. Check what you typed."
    ),
    e.InvalidCode: (
        "That code didn't match. Codes change every 30 seconds — try the newest one. "
        "If your phone's clock is off, turn on automatic time."
    ),
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
    e.KeysMismatch: "Something went wrong. Please try again.",
}


@pytest.mark.parametrize("kind", list(BEFORE), ids=lambda kind: kind.__name__)
def test_each_kind_of_error_says_what_it_said_before(kind: type[e.TwofoldError]) -> None:
    error = kind()
    assert error.detail == BEFORE[kind]
    assert str(error) == BEFORE[kind]


def test_an_error_given_its_own_words_says_them() -> None:
    error = e.NotFound(words.NO_SUCH_USER(login="bob"))
    assert error.detail == "There is no user 'bob'."
    assert isinstance(error.message, Text)
    invalid = e.InvalidInput("email", words.ENTER_EMAIL)
    assert (invalid.field, invalid.detail) == ("email", "Enter your email address.")


@pytest.mark.parametrize(
    ("seconds", "wait"),
    [(1, "1 second"), (5, "5 seconds"), (89, "89 seconds"), (600, "10 minutes")],
)
def test_throttled_passwords_say_how_long_to_wait(seconds: int, wait: str) -> None:
    assert e.PasswordAttemptsThrottled(seconds).detail == (
        f"Too many wrong passwords. For your safety, wait {wait} before trying again."
    )


def test_a_lock_says_until_when_and_how_long_that_is() -> None:
    until = datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    locked = e.SecondFactorLocked(until)
    assert locked.detail == (
        "Too many wrong codes: two-factor sign-in is locked until 12:15 UTC. "
        "You can try again then."
    )
    assert translate(locked.words_for(until - timedelta(minutes=14, seconds=30))) == (
        "Too many wrong codes: two-factor sign-in is locked until 12:15 UTC (about 15 minutes). "
        "You can try again then."
    )
    assert "(about 20 seconds)" in translate(locked.words_for(until - timedelta(seconds=20)))


def test_a_lock_only_an_administrator_can_lift_says_so() -> None:
    assert e.SecondFactorLocked(None).detail == (
        "Too many wrong codes: two-factor sign-in is locked for this account. "
        "Ask your administrator to unlock it."
    )


def test_two_factor_required_names_every_blocker() -> None:
    error = e.TwoFactorRequired(["Acme", words.ORGANIZATION_ADMINISTRATORS])
    assert error.reasons == ["Acme", "organization administrators"]
    assert error.detail == (
        "You can't turn off two-factor authentication: it is required for "
        "Acme and organization administrators."
    )
