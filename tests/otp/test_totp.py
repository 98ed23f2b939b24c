"""TOTP against RFC 6238 Appendix B, plus the window and replay rules."""

import hmac

import pytest

from twofold.otp import TotpParams, hotp, matching_steps, time_step, totp_at, verify_totp

# RFC 6238 Appendix B seeds: "12345678901234567890" repeated to the digest's size.
SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"
SEEDS = {"SHA1": SEED_SHA1, "SHA256": SEED_SHA256, "SHA512": SEED_SHA512}

# RFC 6238 Appendix B: (unix time, time step, algorithm, 8-digit code), period 30.
RFC6238_VECTORS = [
    (59, 1, "SHA1", "94287082"),
    (59, 1, "SHA256", "46119246"),
    (59, 1, "SHA512", "90693936"),
    (1111111109, 37037036, "SHA1", "07081804"),
    (1111111109, 37037036, "SHA256", "68084774"),
    (1111111109, 37037036, "SHA512", "25091201"),
    (1111111111, 37037037, "SHA1", "14050471"),
    (1111111111, 37037037, "SHA256", "67062674"),
    (1111111111, 37037037, "SHA512", "99943326"),
    (1234567890, 41152263, "SHA1", "89005924"),
    (1234567890, 41152263, "SHA256", "91819424"),
    (1234567890, 41152263, "SHA512", "93441116"),
    (2000000000, 66666666, "SHA1", "69279037"),
    (2000000000, 66666666, "SHA256", "90698825"),
    (2000000000, 66666666, "SHA512", "38618901"),
    (20000000000, 666666666, "SHA1", "65353130"),
    (20000000000, 666666666, "SHA256", "77737706"),
    (20000000000, 666666666, "SHA512", "47863826"),
]

SECRET = SEED_SHA1
NOW = 1_700_000_015  # the middle of a step, so +-15 s never crosses a boundary
STEP = NOW // 30
DEFAULT = TotpParams()


def code_for(step: int, params: TotpParams = DEFAULT) -> str:
    return hotp(SECRET, step, digits=params.digits, algorithm=params.algorithm)


@pytest.mark.parametrize(("unix_seconds", "step", "algorithm", "expected"), RFC6238_VECTORS)
def test_matches_rfc6238_appendix_b(
    unix_seconds: int, step: int, algorithm: str, expected: str
) -> None:
    params = TotpParams(algorithm=algorithm, digits=8)
    assert time_step(unix_seconds) == step
    assert totp_at(SEEDS[algorithm], unix_seconds, params) == expected


@pytest.mark.parametrize(("unix_seconds", "step", "algorithm", "expected"), RFC6238_VECTORS)
def test_rfc6238_codes_verify_at_their_own_step(
    unix_seconds: int, step: int, algorithm: str, expected: str
) -> None:
    params = TotpParams(algorithm=algorithm, digits=8)
    assert verify_totp(SEEDS[algorithm], expected, unix_seconds, params).step == step


def test_default_params_are_sha1_six_digits_thirty_seconds() -> None:
    assert TotpParams() == TotpParams(algorithm="SHA1", digits=6, period=30)


def test_time_step_floors_unix_time_by_the_period() -> None:
    assert time_step(0) == 0
    assert time_step(29) == 0
    assert time_step(30) == 1
    assert time_step(119, period=60) == 1


def test_time_step_refuses_times_before_the_epoch() -> None:
    with pytest.raises(ValueError, match="unix_seconds"):
        time_step(-1)


@pytest.mark.parametrize("period", [0, -30])
def test_time_step_refuses_non_positive_periods(period: int) -> None:
    with pytest.raises(ValueError, match="period"):
        time_step(100, period)


def test_totp_uses_the_params_period() -> None:
    params = TotpParams(period=60)
    assert totp_at(SECRET, 119, params) == hotp(SECRET, 1)


def test_codes_are_the_same_throughout_one_step() -> None:
    assert totp_at(SECRET, 60) == totp_at(SECRET, 89) != totp_at(SECRET, 90)


@pytest.mark.parametrize("algorithm", ["MD5", "sha1", ""])
def test_params_refuse_unknown_algorithms(algorithm: str) -> None:
    with pytest.raises(ValueError, match="algorithm"):
        TotpParams(algorithm=algorithm)


@pytest.mark.parametrize("digits", [5, 7, 9])
def test_params_accept_only_six_or_eight_digits(digits: int) -> None:
    with pytest.raises(ValueError, match="digits"):
        TotpParams(digits=digits)


@pytest.mark.parametrize("period", [14, 301, 0, -30])
def test_params_refuse_periods_outside_15_to_300_seconds(period: int) -> None:
    with pytest.raises(ValueError, match="period"):
        TotpParams(period=period)


@pytest.mark.parametrize("period", [15, 300])
def test_params_accept_the_period_bounds(period: int) -> None:
    assert TotpParams(period=period).period == period


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_from_the_neighbouring_steps_are_accepted(offset: int) -> None:
    assert verify_totp(SECRET, code_for(STEP + offset), NOW).step == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_codes_two_steps_away_are_refused(offset: int) -> None:
    assert verify_totp(SECRET, code_for(STEP + offset), NOW).step is None


def test_a_wider_window_accepts_codes_two_steps_away() -> None:
    assert verify_totp(SECRET, code_for(STEP - 2), NOW, window=2).step == STEP - 2


def test_a_zero_window_accepts_only_the_current_step() -> None:
    assert verify_totp(SECRET, code_for(STEP), NOW, window=0).step == STEP
    assert verify_totp(SECRET, code_for(STEP - 1), NOW, window=0).step is None


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        verify_totp(SECRET, code_for(STEP), NOW, window=-1)


@pytest.mark.parametrize("offset", [-1, 0])
def test_a_step_at_or_before_the_last_used_one_is_refused(offset: int) -> None:
    code = code_for(STEP + offset)
    verdict = verify_totp(SECRET, code, NOW, last_used_step=STEP)
    assert verdict.step is None
    assert verdict.replayed


def test_a_step_after_the_last_used_one_is_accepted() -> None:
    assert verify_totp(SECRET, code_for(STEP + 1), NOW, last_used_step=STEP).step == STEP + 1


def test_a_code_accepted_once_is_refused_when_replayed() -> None:
    code = code_for(STEP)
    used = verify_totp(SECRET, code, NOW).step
    assert used == STEP
    replayed = verify_totp(SECRET, code, NOW + 10, last_used_step=used)
    assert replayed.step is None
    assert replayed.replayed
    assert not replayed.accepted


def test_a_wrong_code_is_refused() -> None:
    wrong = f"{(int(code_for(STEP)) + 1) % 10**6:06d}"
    verdict = verify_totp(SECRET, wrong, NOW)
    assert verdict.step is None
    assert not verdict.replayed  # a wrong code is not a replay


def test_a_code_made_with_another_secret_is_refused() -> None:
    other = hotp(b"another secret, same length!", STEP)
    assert verify_totp(SECRET, other, NOW).step is None


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        " 12345",
        "12-456",
        "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
        "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
    ],
)
def test_malformed_codes_are_refused_without_raising(code: str) -> None:
    assert matching_steps(SECRET, code, NOW) == []
    assert verify_totp(SECRET, code, NOW).step is None


def test_a_six_digit_code_is_refused_when_eight_are_expected() -> None:
    params = TotpParams(digits=8)
    six = code_for(STEP)
    assert verify_totp(SECRET, six, NOW, params).step is None


def test_eight_digit_codes_verify_with_eight_digit_params() -> None:
    params = TotpParams(digits=8, algorithm="SHA256")
    assert verify_totp(SECRET, code_for(STEP, params), NOW, params).step == STEP


def test_the_window_does_not_reach_before_step_zero() -> None:
    assert verify_totp(SECRET, hotp(SECRET, 0), 5).step == 0


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        verify_totp(b"", "123456", NOW)


def test_every_candidate_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_compare = hmac.compare_digest

    def counting_compare(a: str, b: str) -> bool:
        calls.append(a)
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting_compare)
    assert matching_steps(SECRET, code_for(STEP - 1), NOW, window=1) == [STEP - 1]
    assert len(calls) == 3


# A secret whose codes at two neighbouring steps happen to be equal (found by search).
COLLIDING_SECRET = b"collision-seed-0802565"
COLLIDING_STEP = 56_666_667
COLLIDING_CODE = "995509"
COLLIDING_NOW = (COLLIDING_STEP + 1) * 30 + 15


def test_the_colliding_secret_really_collides() -> None:
    assert hotp(COLLIDING_SECRET, COLLIDING_STEP) == COLLIDING_CODE
    assert hotp(COLLIDING_SECRET, COLLIDING_STEP + 1) == COLLIDING_CODE


def test_all_matching_steps_are_listed_in_ascending_order() -> None:
    steps = matching_steps(COLLIDING_SECRET, COLLIDING_CODE, COLLIDING_NOW)
    assert steps == [COLLIDING_STEP, COLLIDING_STEP + 1]


def test_the_smallest_acceptable_matching_step_is_returned() -> None:
    assert verify_totp(COLLIDING_SECRET, COLLIDING_CODE, COLLIDING_NOW).step == COLLIDING_STEP
    assert (
        verify_totp(
            COLLIDING_SECRET, COLLIDING_CODE, COLLIDING_NOW, last_used_step=COLLIDING_STEP
        ).step
        == COLLIDING_STEP + 1
    )
