"""Remember this browser (decision 0028): THE rules of when a remembered browser stands in
for the code, and for what.

A remembered browser is a policy exception an organization opts into (`remember_days`
> 0). At a password sign-in it satisfies the entered organization's own 2FA policy, and
nothing else: the session's `amr` stays `["pwd"]`, so it never counts as a second factor
for an application (acr mfa or phr, a client's require-2FA, forward-auth ?require=mfa),
for freshness (prompt=login, max_age: the auth_time stays the password's), for an
organization switch, or for an admin's re-verification.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from twofold.core.policy import MAX_REMEMBER_DAYS

# The most an organization may set (core.policy) is the hard cap of every remembered browser.
HARD_CAP = timedelta(days=MAX_REMEMBER_DAYS)


class Refusal(StrEnum):
    """Why a remembered browser does not stand in for the code (the audit's reason)."""

    OFF = "off"  # the entered organization remembers no browser (remember_days 0)
    TOO_OLD = "too_old"  # older than the entered organization's remember_days
    EXPIRED = "expired"  # past its hard cap (expires_at)
    UNKNOWN = "unknown"  # not a live cookie of this person (forgotten, or used already)
    PHISHING_RESISTANT = "phishing_resistant"  # the organization asks for a passkey


def days_offered(remember_days: int) -> int:
    """The N of "for N days" an organization's setting gives (0: not offered)."""
    return max(0, min(remember_days, MAX_REMEMBER_DAYS))


def expires_at(remembered_at: datetime) -> datetime:
    """The hard cap of a browser remembered at `remembered_at`, whatever N becomes."""
    return remembered_at + HARD_CAP


def refusal(
    *,
    remember_days: int,
    remembered_at: datetime,
    expires_at: datetime,
    now: datetime,
    phishing_resistant: bool = False,
) -> Refusal | None:
    """None when a browser remembered at `remembered_at` may stand in for the code now, in
    the organization being entered: its remember_days (read at this very use, so lowering
    it or setting 0 takes effect at once) counted from the second factor it stands for,
    and never past its hard cap."""
    days = days_offered(remember_days)
    if days == 0:
        return Refusal.OFF
    if phishing_resistant:
        return Refusal.PHISHING_RESISTANT
    if now >= expires_at:
        return Refusal.EXPIRED
    if now >= remembered_at + timedelta(days=days):
        return Refusal.TOO_OLD
    return None


def may_be_offered(*, application_asks_more: bool) -> bool:
    """Whether a remembered browser may even be tried at this sign-in: not when it is for
    an application that asks more than the organization's policy (a second factor, a
    phishing-resistant one, or a fresh sign-in): the code is asked, as without it."""
    return not application_asks_more


def max_age_seconds(expires_at: datetime, now: datetime) -> int:
    """The cookie's Max-Age: until the hard cap, never more."""
    return max(0, int((expires_at - now).total_seconds()))
