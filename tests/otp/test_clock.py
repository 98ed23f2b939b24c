"""The injectable clocks and the datetime-to-unix conversion."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from twofold.otp import Clock, FixedClock, SystemClock, unix_time

MOMENT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_a_fixed_clock_reports_the_time_it_was_given() -> None:
    assert FixedClock(MOMENT).now() == MOMENT


def test_a_fixed_clock_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2024, 5, 1, 12, 0, 0))  # naive on purpose


def test_a_fixed_clock_reports_utc_even_when_given_another_zone() -> None:
    paris = timezone(timedelta(hours=2))
    now = FixedClock(datetime(2024, 5, 1, 14, 0, 0, tzinfo=paris)).now()
    assert now == MOMENT
    assert now.utcoffset() == timedelta(0)


def test_advancing_a_fixed_clock_moves_it_forward() -> None:
    clock = FixedClock(MOMENT)
    clock.advance(30)
    clock.advance(0.5)
    assert clock.now() == MOMENT + timedelta(seconds=30.5)


def test_advancing_by_a_negative_amount_moves_a_fixed_clock_back() -> None:
    clock = FixedClock(MOMENT)
    clock.advance(-90)
    assert clock.now() == MOMENT - timedelta(seconds=90)


def test_setting_a_fixed_clock_replaces_its_time() -> None:
    clock = FixedClock(MOMENT)
    later = MOMENT + timedelta(days=3)
    clock.set(later)
    assert clock.now() == later


def test_setting_a_fixed_clock_refuses_a_naive_datetime() -> None:
    clock = FixedClock(MOMENT)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2024, 5, 1))  # naive on purpose
    assert clock.now() == MOMENT


def test_the_system_clock_reports_the_current_utc_time() -> None:
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FixedClock(MOMENT), Clock)


def test_unix_time_of_the_epoch_is_zero() -> None:
    assert unix_time(datetime(1970, 1, 1, tzinfo=UTC)) == 0


def test_unix_time_matches_a_known_timestamp() -> None:
    assert unix_time(datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)) == 1234567890


def test_unix_time_drops_fractions_of_a_second() -> None:
    assert unix_time(MOMENT + timedelta(seconds=1.999999)) == unix_time(MOMENT) + 1


def test_unix_time_floors_rather_than_truncates_before_the_epoch() -> None:
    assert unix_time(datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)) == -1


def test_unix_time_ignores_the_zone_of_an_aware_datetime() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert unix_time(MOMENT.astimezone(tokyo)) == unix_time(MOMENT)


def test_unix_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        unix_time(datetime(2024, 5, 1))  # naive on purpose
