"""The second-factor lockout schedule: 15 minutes at each tenth failure, doubling, and an
operator unlock from the hundredth on (NIST SP 800-63B §5.2.2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support import START
from twofold.core.lockout import (
    PERMANENT_LOCK_AT,
    is_locked,
    lock_after_failure,
    next_failure_locks,
)


@pytest.mark.parametrize("failures", [0, 1, 5, 9, 11, 19, 21, 99])
def test_a_count_that_is_not_a_multiple_of_ten_does_not_lock(failures: int) -> None:
    assert lock_after_failure(failures, START) == (False, None)


@pytest.mark.parametrize(
    ("failures", "minutes"),
    [(10, 15), (20, 30), (30, 60), (40, 120), (90, 15 * 2**8)],
)
def test_each_tenth_failure_locks_for_twice_as_long_as_the_last(
    failures: int, minutes: int
) -> None:
    assert lock_after_failure(failures, START) == (True, START + timedelta(minutes=minutes))


@pytest.mark.parametrize("failures", [100, 101, 110, 1000])
def test_a_hundred_failures_lock_until_an_operator_unlocks(failures: int) -> None:
    assert lock_after_failure(failures, START) == (True, None)


def test_a_lock_holds_until_its_end() -> None:
    until = START + timedelta(minutes=15)
    assert is_locked(10, until, START)
    assert is_locked(10, until, until - timedelta(seconds=1))


def test_a_lock_is_over_at_its_end() -> None:
    until = START + timedelta(minutes=15)
    assert not is_locked(10, until, until)
    assert not is_locked(10, until, until + timedelta(days=1))


def test_no_lock_time_means_not_locked_below_a_hundred() -> None:
    assert not is_locked(0, None, START)
    assert not is_locked(99, None, START)


@pytest.mark.parametrize("failures", [100, 150])
def test_a_hundred_failures_stay_locked_after_any_lock_time_has_passed(failures: int) -> None:
    expired = START - timedelta(days=365)
    assert is_locked(failures, None, START)
    assert is_locked(failures, expired, START)


def test_the_last_try_warning_counts_wrong_codes_sent_through_api_keys() -> None:
    """Near the hard stop, wrong codes that came through API keys make the page's next wrong
    code the last one: the code prompt must warn then, not only when its own count is there."""
    key_failures = 5
    page_failures = PERMANENT_LOCK_AT - key_failures - 1  # the next one is not a tenth
    assert next_failure_locks(page_failures, START) == (False, None)
    assert next_failure_locks(page_failures, START, key_failures) == (True, None)  # operator
