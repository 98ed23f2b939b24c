"""HOTP against RFC 4226 Appendix D, plus its argument checks."""

import hmac

import pytest

from twofold.otp import ALGORITHMS, hotp
from twofold.otp.hotp import matching_counters

RFC4226_SECRET = b"12345678901234567890"

# RFC 4226 Appendix D: (counter, 6-digit code) for the secret above, HMAC-SHA1.
RFC4226_VECTORS = [
    (0, "755224"),
    (1, "287082"),
    (2, "359152"),
    (3, "969429"),
    (4, "338314"),
    (5, "254676"),
    (6, "287922"),
    (7, "162583"),
    (8, "399871"),
    (9, "520489"),
]


@pytest.mark.parametrize(("counter", "expected"), RFC4226_VECTORS)
def test_matches_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert hotp(RFC4226_SECRET, counter) == expected


def test_defaults_are_six_digits_and_sha1() -> None:
    assert hotp(RFC4226_SECRET, 0) == hotp(RFC4226_SECRET, 0, digits=6, algorithm="SHA1")


def test_codes_are_zero_padded_to_the_requested_length() -> None:
    # RFC 6238's SHA1 vector at T=37037036 starts with a zero.
    assert hotp(RFC4226_SECRET, 37037036, digits=8) == "07081804"


@pytest.mark.parametrize("digits", [6, 7, 8])
def test_shorter_codes_are_the_tail_of_longer_ones(digits: int) -> None:
    code = hotp(RFC4226_SECRET, 5, digits=digits)
    assert len(code) == digits
    assert code == hotp(RFC4226_SECRET, 5, digits=8)[-digits:]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_supported_algorithm_gives_a_numeric_code(algorithm: str) -> None:
    code = hotp(RFC4226_SECRET, 1, algorithm=algorithm)
    assert len(code) == 6
    assert code.isascii()
    assert code.isdigit()


def test_algorithms_give_different_codes() -> None:
    codes = {hotp(RFC4226_SECRET, 1, digits=8, algorithm=a) for a in ALGORITHMS}
    assert len(codes) == len(ALGORITHMS)


@pytest.mark.parametrize("digits", [0, 5, 9, 10, -6])
def test_unsupported_digit_counts_are_refused(digits: int) -> None:
    with pytest.raises(ValueError, match="digits"):
        hotp(RFC4226_SECRET, 0, digits=digits)


@pytest.mark.parametrize("algorithm", ["MD5", "sha1", "SHA-1", "SHA384", ""])
def test_unsupported_algorithms_are_refused(algorithm: str) -> None:
    with pytest.raises(ValueError, match="algorithm"):
        hotp(RFC4226_SECRET, 0, algorithm=algorithm)


@pytest.mark.parametrize("counter", [-1, 2**64, 2**70])
def test_counters_outside_64_bits_are_refused(counter: int) -> None:
    with pytest.raises(ValueError, match="counter"):
        hotp(RFC4226_SECRET, counter)


def test_the_largest_64_bit_counter_is_accepted() -> None:
    assert len(hotp(RFC4226_SECRET, 2**64 - 1)) == 6


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        hotp(b"", 0)


# The checking path (matching_counters) computes HMAC from hashlib states set up once per
# key; it must give exactly the codes of the reference path (one stdlib hmac.digest each).
KEY_LENGTHS = [1, 16, 20, 32, 63, 64, 65, 127, 128, 129, 200]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("length", KEY_LENGTHS)
def test_the_checking_path_finds_every_reference_code(algorithm: str, length: int) -> None:
    secret = bytes((7 * i + length) % 256 for i in range(length))
    for digits in (6, 7, 8):
        for counter in (0, 1, 59_999_999, 2**32 + 5, 2**64 - 2):
            code = hotp(secret, counter, digits=digits, algorithm=algorithm)
            window = range(max(0, counter - 1), counter + 2)
            found = matching_counters(secret, window, code, digits=digits, algorithm=algorithm)
            assert counter in found
            assert found == [
                c for c in window if hotp(secret, c, digits=digits, algorithm=algorithm) == code
            ]


def test_the_checking_path_agrees_with_the_stdlib_hmac() -> None:
    secret = b"a key longer than one SHA-1 block: " * 3
    mac = hmac.digest(secret, (1234).to_bytes(8, "big"), "sha1")
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    assert matching_counters(secret, range(1233, 1236), f"{value % 10**6:06d}") == [1234]


def test_the_checking_path_finds_nothing_for_a_wrong_code() -> None:
    code = hotp(RFC4226_SECRET, 5)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert matching_counters(RFC4226_SECRET, range(4, 7), wrong) == []


def test_the_checking_path_refuses_what_hotp_refuses() -> None:
    with pytest.raises(ValueError, match="secret"):
        matching_counters(b"", range(3), "123456")
    with pytest.raises(ValueError, match="counter"):
        matching_counters(RFC4226_SECRET, range(2**64 - 1, 2**64 + 1), "123456")
    with pytest.raises(ValueError, match="digits"):
        matching_counters(RFC4226_SECRET, range(3), "12345", digits=5)
    with pytest.raises(ValueError, match="algorithm"):
        matching_counters(RFC4226_SECRET, range(3), "123456", algorithm="MD5")
