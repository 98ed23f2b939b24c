"""Normalising typed codes and recognising well-formed numeric ones."""

import pytest

from twofold.otp import is_numeric_code, normalize_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        (" 123456 ", "123456"),
        ("123-456", "123456"),
        ("12\t34 - 56", "123456"),
        ("123\u00a0456", "123456"),  # no-break space, as pasted from web pages
        ("123\u2003456\u3000", "123456"),  # em space, ideographic space
        ("123\n456\r\n", "123456"),
    ],
)
def test_spaces_tabs_and_dashes_are_removed(raw: str, expected: str) -> None:
    assert normalize_code(raw) == expected


def test_other_characters_are_kept_unchanged() -> None:
    assert normalize_code("Ab-1_2.3 /x") == "Ab1_2.3/x"


def test_an_empty_code_stays_empty() -> None:
    assert normalize_code(" - ") == ""


def test_exactly_the_right_number_of_ascii_digits_is_numeric() -> None:
    assert is_numeric_code("012345", 6)
    assert is_numeric_code("01234567", 8)


@pytest.mark.parametrize("code", ["12345", "1234567", "", "01234567"])
def test_the_wrong_length_is_not_numeric(code: str) -> None:
    assert not is_numeric_code(code, 6)


@pytest.mark.parametrize(
    "code",
    [
        "12345a",
        "-12345",
        "+12345",
        "123 45",
        "12345\u0663",  # ARABIC-INDIC DIGIT THREE
        "12345\uff11",  # FULLWIDTH DIGIT ONE
        "12345\u00b2",  # SUPERSCRIPT TWO: str.isdigit() says yes
    ],
)
def test_anything_but_ascii_digits_is_not_numeric(code: str) -> None:
    assert not is_numeric_code(code, 6)


def test_a_non_positive_digit_count_is_refused() -> None:
    with pytest.raises(ValueError, match="digits"):
        is_numeric_code("", 0)
