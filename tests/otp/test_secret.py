"""Secret generation and its base32 text form."""

import pytest

from twofold.otp import (
    SECRET_BYTES,
    decode_secret,
    encode_secret,
    generate_secret,
    group_for_display,
)

RFC_SEED = b"12345678901234567890"
RFC_SEED_BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
BASE32_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_secrets_are_160_bits_by_default() -> None:
    assert SECRET_BYTES == 20
    assert len(generate_secret()) == 20


def test_a_larger_secret_can_be_requested() -> None:
    assert len(generate_secret(32)) == 32


def test_secrets_differ_every_time() -> None:
    assert len({generate_secret() for _ in range(50)}) == 50


@pytest.mark.parametrize("nbytes", [15, 10, 0, -1])
def test_secrets_shorter_than_128_bits_are_refused(nbytes: int) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        generate_secret(nbytes)


def test_a_128_bit_secret_is_allowed() -> None:
    assert len(generate_secret(16)) == 16


def test_a_160_bit_secret_encodes_to_32_characters() -> None:
    text = encode_secret(generate_secret())
    assert len(text) == 32
    assert set(text) <= BASE32_CHARS


def test_encoding_matches_the_rfc_seed_in_base32() -> None:
    assert encode_secret(RFC_SEED) == RFC_SEED_BASE32


@pytest.mark.parametrize("nbytes", [16, 17, 21, 22, 32, 33, 64])
def test_encoding_never_contains_padding(nbytes: int) -> None:
    text = encode_secret(bytes(range(nbytes)))
    assert "=" not in text
    assert text == text.upper()


def test_an_empty_secret_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="empty"):
        encode_secret(b"")


@pytest.mark.parametrize("nbytes", [16, 17, 18, 19, 20, 21, 32, 64])
def test_decoding_reverses_encoding(nbytes: int) -> None:
    secret = generate_secret(nbytes)
    assert decode_secret(encode_secret(secret)) == secret


def test_decoding_accepts_lower_case_and_spaces() -> None:
    typed = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
    assert decode_secret(typed) == RFC_SEED


def test_decoding_accepts_tabs_and_line_breaks() -> None:
    assert decode_secret(" GEZDGNBV\tGY3TQOJQ\nGEZDGNBVGY3TQOJQ ") == RFC_SEED


def test_decoding_accepts_missing_padding() -> None:
    assert decode_secret("GEZDGNBVGY3TQOJQGEZA") == b"123456789012"


def test_decoding_accepts_explicit_padding() -> None:
    assert decode_secret("GEZDGNBVGY3TQOJQGEZA====") == b"123456789012"


def test_display_groups_decode_back_to_the_secret() -> None:
    secret = generate_secret()
    assert decode_secret(group_for_display(encode_secret(secret))) == secret


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "====",
        "GEZDGNBVGY3TQOJ1",  # '1' is not in the base32 alphabet
        "GEZDGNBVGY3TQOJ0",  # nor is '0'
        "GEZD-GNBV-GY3T-QOJQ",  # dashes are not accepted for secrets
        "GEZDGNBV!Y3TQOJQ",
        "GEZD=GNBVGY3TQOJQ",  # padding in the middle
        "ABC",  # a length no byte string encodes to
        "A",
        "GEZDGNBVGY3TQOJ\u0131",  # dotless i upper-cases to 'I'
        "\uff27\uff25\uff3a\uff24GNBV",  # fullwidth G, E, Z, D
    ],
)
def test_anything_that_is_not_base32_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="secret text"):
        decode_secret(text)


def test_display_groups_are_four_characters_separated_by_single_spaces() -> None:
    assert group_for_display(RFC_SEED_BASE32) == "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"


def test_the_last_display_group_may_be_shorter() -> None:
    assert group_for_display("ABCDEFGHIJ") == "ABCD EFGH IJ"


def test_the_display_group_size_can_be_chosen() -> None:
    assert group_for_display("ABCDEFGHI", size=3) == "ABC DEF GHI"


def test_grouping_nothing_gives_nothing() -> None:
    assert group_for_display("") == ""


@pytest.mark.parametrize("size", [0, -4])
def test_a_non_positive_group_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="size"):
        group_for_display("ABCD", size=size)
