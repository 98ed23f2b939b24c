"""The remembered-browser rule (decision 0028): N read at the moment of use, counted from
the second factor it stands for, never past the hard cap, never where the organization
remembers nothing or asks for a passkey."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twofold.core import remembered
from twofold.core.policy import MAX_REMEMBER_DAYS
from twofold.core.remembered import Refusal

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAP = remembered.expires_at(T0)


def refusal(days: int, age: timedelta, *, phishing_resistant: bool = False) -> Refusal | None:
    return remembered.refusal(
        remember_days=days,
        remembered_at=T0,
        expires_at=CAP,
        now=T0 + age,
        phishing_resistant=phishing_resistant,
    )


def test_the_hard_cap_is_thirty_days_after_the_second_factor() -> None:
    assert T0 + timedelta(days=30) == CAP
    assert timedelta(days=MAX_REMEMBER_DAYS) == remembered.HARD_CAP


def test_it_stands_in_within_the_organizations_days() -> None:
    assert refusal(7, timedelta(0)) is None
    assert refusal(7, timedelta(days=7) - timedelta(seconds=1)) is None


def test_it_is_refused_once_the_organizations_days_are_over() -> None:
    assert refusal(7, timedelta(days=7)) is Refusal.TOO_OLD
    assert refusal(1, timedelta(days=2)) is Refusal.TOO_OLD


def test_lowering_the_days_applies_to_browsers_remembered_before() -> None:
    """N is the organization's at the moment of use, not when the box was ticked."""
    age = timedelta(days=5)
    assert refusal(10, age) is None
    assert refusal(3, age) is Refusal.TOO_OLD


@pytest.mark.parametrize("days", [0, -1])
def test_an_organization_that_remembers_nothing_refuses_every_browser(days: int) -> None:
    assert refusal(days, timedelta(0)) is Refusal.OFF


def test_never_past_the_hard_cap_whatever_the_organization_says() -> None:
    assert refusal(30, timedelta(days=30)) is Refusal.EXPIRED
    assert refusal(365, timedelta(days=31)) is Refusal.EXPIRED


def test_more_than_thirty_days_counts_as_thirty() -> None:
    assert remembered.days_offered(90) == 30
    assert remembered.days_offered(0) == 0
    assert remembered.days_offered(-5) == 0
    assert remembered.days_offered(14) == 14


def test_a_phishing_resistant_policy_refuses_it() -> None:
    assert refusal(30, timedelta(0), phishing_resistant=True) is Refusal.PHISHING_RESISTANT


def test_never_tried_for_an_application_that_asks_more_than_the_policy() -> None:
    assert remembered.may_be_offered(application_asks_more=False)
    assert not remembered.may_be_offered(application_asks_more=True)


def test_the_cookie_lives_until_the_hard_cap_and_no_longer() -> None:
    assert remembered.max_age_seconds(CAP, T0) == 30 * 86400
    assert remembered.max_age_seconds(CAP, CAP - timedelta(seconds=10)) == 10
    assert remembered.max_age_seconds(CAP, CAP + timedelta(days=1)) == 0
