"""The recovery-code format: generation, normalisation and well-formedness."""

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twofold.otp import (
    RECOVERY_CODE_COUNT,
    generate_recovery_code,
    generate_recovery_codes,
    is_well_formed_recovery_code,
    normalize_recovery_code,
    recovery,
)

CODE_FORMAT = re.compile(r"^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$")


def test_a_code_is_four_dash_separated_groups_of_four_symbols() -> None:
    for _ in range(100):
        assert CODE_FORMAT.fullmatch(generate_recovery_code())


def test_the_alphabet_has_32_symbols_without_look_alikes() -> None:
    alphabet = recovery.RECOVERY_ALPHABET
    assert len(set(alphabet)) == len(alphabet) == 32
    assert not set("ilou") & set(alphabet)
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]", ch) for ch in alphabet)


def test_a_code_carries_at_least_64_bits() -> None:
    symbols = len(generate_recovery_code().replace("-", ""))
    assert symbols == 16
    assert symbols * math.log2(len(recovery.RECOVERY_ALPHABET)) >= 64


def test_codes_draw_on_the_whole_alphabet() -> None:
    seen = set("".join(generate_recovery_code() for _ in range(300)).replace("-", ""))
    assert seen == set(recovery.RECOVERY_ALPHABET)


def test_ten_codes_are_issued_by_default() -> None:
    assert RECOVERY_CODE_COUNT == 10
    codes = generate_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE_FORMAT.fullmatch(code) for code in codes)


def test_another_count_can_be_requested() -> None:
    assert len(generate_recovery_codes(3)) == 3


def test_a_repeated_code_is_replaced_so_all_are_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["aaaa-aaaa-aaaa-aaaa", "aaaa-aaaa-aaaa-aaaa", "bbbb-bbbb-bbbb-bbbb"])
    monkeypatch.setattr(recovery, "generate_recovery_code", lambda: next(draws))
    assert generate_recovery_codes(2) == ["aaaa-aaaa-aaaa-aaaa", "bbbb-bbbb-bbbb-bbbb"]


@pytest.mark.parametrize("count", [0, -1])
def test_a_non_positive_count_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        generate_recovery_codes(count)


def test_a_generated_code_normalises_to_its_16_symbols() -> None:
    code = generate_recovery_code()
    normalized = normalize_recovery_code(code)
    assert normalized == code.replace("-", "")
    assert is_well_formed_recovery_code(normalized)


@pytest.mark.parametrize(
    "typed",
    [
        "k3m9-x2qa-7hzr-p4tw",
        "K3M9-X2QA-7HZR-P4TW",
        "k3m9 x2qa 7hzr p4tw",
        "k3m9x2qa7hzrp4tw",
        "  K3M9 - x2qa-7HZR\tp4tw\n",
    ],
)
def test_case_spacing_and_dashes_do_not_matter(typed: str) -> None:
    assert normalize_recovery_code(typed) == "k3m9x2qa7hzrp4tw"


def test_look_alike_letters_are_read_as_the_digits_they_resemble() -> None:
    assert normalize_recovery_code("oOiI-lL00-1111-abcd") == "00111100" + "1111abcd"


def test_a_normalised_code_is_well_formed_after_fixing_look_alikes() -> None:
    assert is_well_formed_recovery_code(normalize_recovery_code("O123-I456-L789-abcd"))


@pytest.mark.parametrize(
    "normalized",
    [
        "",
        "k3m9x2qa7hzrp4t",  # 15 symbols
        "k3m9x2qa7hzrp4twx",  # 17 symbols
        "k3m9-x2qa-7hzr-p4tw",  # still has dashes
        "K3M9X2QA7HZRP4TW",  # upper case is only accepted through normalisation
        "k3m9x2qa7hzrp4tu",  # 'u' is not in the alphabet
        "k3m9x2qa7hzrp4t!",
        "k3m9x2qa7hzrp4t\u0663",
    ],
)
def test_malformed_codes_are_not_well_formed(normalized: str) -> None:
    assert not is_well_formed_recovery_code(normalized)


@settings(max_examples=200, database=None)
@given(st.text())
def test_normalising_never_raises(raw: str) -> None:
    assert isinstance(normalize_recovery_code(raw), str)
