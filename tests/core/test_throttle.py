"""Growing delays after wrong passwords: a few free failures, then 1, 2, 4 … seconds, capped."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support import START
from twofold.core.throttle import (
    FREE_FAILURES_PER_ACCOUNT,
    MAX_DELAY_SECONDS,
    delay_after,
    seconds_to_wait,
)


@pytest.mark.parametrize("failures", [0, 1, 2, 3])
def test_the_free_failures_cost_no_delay(failures: int) -> None:
    assert delay_after(failures, FREE_FAILURES_PER_ACCOUNT) == 0


@pytest.mark.parametrize(("over", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (9, 256)])
def test_each_failure_past_the_free_ones_doubles_the_delay(over: int, seconds: int) -> None:
    assert delay_after(FREE_FAILURES_PER_ACCOUNT + over, FREE_FAILURES_PER_ACCOUNT) == seconds


@pytest.mark.parametrize("failures", [13, 14, 50, 10_000])
def test_the_delay_is_capped(failures: int) -> None:
    assert delay_after(failures, FREE_FAILURES_PER_ACCOUNT) == MAX_DELAY_SECONDS


def test_a_negative_count_costs_no_delay() -> None:
    assert delay_after(-1, 0) == 0


def test_the_wait_counts_from_the_last_failure() -> None:
    failures = FREE_FAILURES_PER_ACCOUNT + 3  # a 4-second delay
    assert seconds_to_wait(failures, START, FREE_FAILURES_PER_ACCOUNT, START) == 4
    later = START + timedelta(seconds=3)
    assert seconds_to_wait(failures, START, FREE_FAILURES_PER_ACCOUNT, later) == 1


def test_a_part_second_left_to_wait_rounds_up() -> None:
    failures = FREE_FAILURES_PER_ACCOUNT + 2  # a 2-second delay
    later = START + timedelta(seconds=1, milliseconds=500)
    assert seconds_to_wait(failures, START, FREE_FAILURES_PER_ACCOUNT, later) == 1


def test_nothing_is_left_to_wait_once_the_delay_has_passed() -> None:
    failures = FREE_FAILURES_PER_ACCOUNT + 2
    for waited in (2, 3, 3600):
        later = START + timedelta(seconds=waited)
        assert seconds_to_wait(failures, START, FREE_FAILURES_PER_ACCOUNT, later) == 0
