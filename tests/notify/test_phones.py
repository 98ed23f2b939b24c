"""Phone numbers: parsed to E.164 with phonenumbers, only from the allowed countries, and
masked for everyone but their owner."""

from __future__ import annotations

import pytest

from twofold.core.errors import InvalidInput
from twofold.core.words import translate
from twofold.notify.phones import mask, parse, parse_allowed_countries, pretty

ALLOWED = ("GB", "US", "DE")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+44 7400 123456", "+447400123456"),
        ("07400 123456", "+447400123456"),  # no +: read as the first allowed country's
        ("+1 (201) 555-0123", "+12015550123"),
        ("+49 151 23456789", "+4915123456789"),
    ],
)
def test_numbers_are_parsed_to_e164(raw: str, e164: str) -> None:
    assert parse(raw, ALLOWED) == e164


@pytest.mark.parametrize("raw", ["", "hello", "+44 12", "+999 1234567", "1" * 41, "+44\x007400"])
def test_what_is_not_a_phone_number_is_refused_with_clear_words(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(raw, ALLOWED)
    assert refused.value.field == "phone"
    assert "country code" in translate(refused.value.words_for())


def test_a_number_from_a_country_not_allowed_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse("+33 6 12 34 56 78", ALLOWED)
    assert "GB, US, DE" in translate(refused.value.words_for())


def test_a_landline_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse("+44 20 7946 0000", ALLOWED)
    assert "not a mobile number" in translate(refused.value.words_for())


def test_no_allowed_country_means_no_number_at_all() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse("+44 7400 123456", ())
    assert "not available" in translate(refused.value.words_for())


@pytest.mark.parametrize(
    ("e164", "masked"),
    [
        ("+447400123456", "+44 •••• ••34 56"),
        ("+12015550123", "+1 •••• ••01 23"),
        ("+4915123456789", "+49 •••• •••6 789"),
        ("+33612345678", "+33 •••• •567 8"),
    ],
)
def test_a_masked_number_shows_the_country_code_and_the_last_four_digits(
    e164: str, masked: str
) -> None:
    assert mask(e164) == masked


def test_the_owner_sees_the_whole_number_written_internationally() -> None:
    assert pretty("+447400123456") == "+44 7400 123456"


def test_the_allowed_countries_setting_is_read_and_checked() -> None:
    assert parse_allowed_countries(" gb, us,GB ") == ("GB", "US")
    assert parse_allowed_countries("") == ()
    with pytest.raises(ValueError, match="XX"):
        parse_allowed_countries("GB,XX")
