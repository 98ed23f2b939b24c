"""An organization's security-key settings (decision 0029): their validation, and what a
phishing-resistant requirement demands of one person in one session (core.policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twofold.core.errors import InvalidInput
from twofold.core.policy import (
    MAX_REMEMBER_DAYS,
    Access,
    Demand,
    MembershipView,
    PasskeyPolicy,
    PhishingResistantPolicy,
    Role,
    TwoFactorPolicy,
    access_for,
    check_key_settings,
    key_grace_end,
    parse_passkeys,
    parse_phishing_resistant,
    parse_remember_days,
    phishing_resistant_applies,
    phishing_resistant_since_after,
    security_keys_offered,
)
from twofold.core.words import translate

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=3)  # the requirement was switched on three days ago
JOINED_BEFORE = SINCE - timedelta(days=30)
JOINED_AFTER = SINCE + timedelta(hours=1)

OFF = PhishingResistantPolicy.OFF
ADMINS = PhishingResistantPolicy.ADMINS
ALL = PhishingResistantPolicy.ALL


def org(
    phr: PhishingResistantPolicy = ALL,
    *,
    role: Role = Role.MEMBER,
    joined_at: datetime = JOINED_BEFORE,
    grace_days: int = 0,
    org_id: int = 1,
    name: str = "Acme",
    two_factor: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    passkeys: PasskeyPolicy = PasskeyPolicy.SECOND_FACTOR,
) -> MembershipView:
    return MembershipView(
        organization_id=org_id,
        slug=name.lower(),
        name=name,
        role=role,
        joined_at=joined_at,
        policy=two_factor,
        required_since=SINCE if two_factor is TwoFactorPolicy.REQUIRED else None,
        grace_days=grace_days,
        phishing_resistant=phr,
        phishing_resistant_since=None if phr is OFF else SINCE,
        passkeys=passkeys,
    )


def access(
    current: MembershipView | None,
    *,
    has_key: bool = False,
    has_two_factor: bool = True,
    verified: bool = True,
    used_key: bool = False,
    others: tuple[MembershipView, ...] = (),
    method_kinds: frozenset[str] = frozenset({"totp"}),
    now: datetime = NOW,
) -> Access:
    memberships = ([current] if current else []) + list(others)
    return access_for(
        has_two_factor=has_two_factor,
        is_superadmin=False,
        memberships=memberships,
        current=current,
        verified_for_current=verified,
        now=now,
        method_kinds=method_kinds if has_two_factor else frozenset(),
        has_security_key=has_key,
        session_phishing_resistant=used_key,
    )


# --- validation: one home for the CLI, the page and the services ---------------------------


@pytest.mark.parametrize("value", ["off", "second-factor", "passwordless", " Passwordless "])
def test_passkeys_values_are_parsed(value: str) -> None:
    assert parse_passkeys(value).value == value.strip().lower()


@pytest.mark.parametrize("value", ["", "on", "second_factor", "yes", "required"])
def test_an_unknown_passkeys_value_is_refused_with_the_choices(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_passkeys(value)
    assert refused.value.field == "passkeys"
    assert translate(refused.value.message) == (
        "Passkeys must be one of: off, second-factor, passwordless."
    )


@pytest.mark.parametrize("value", ["off", "admins", "ALL"])
def test_phishing_resistant_values_are_parsed(value: str) -> None:
    assert parse_phishing_resistant(value).value == value.lower()


@pytest.mark.parametrize("value", ["", "admin", "members", "on", "true"])
def test_an_unknown_phishing_resistant_value_is_refused_with_the_choices(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_phishing_resistant(value)
    assert refused.value.field == "phishing_resistant"
    assert "off, admins, all" in translate(refused.value.message)


@pytest.mark.parametrize(("value", "days"), [("0", 0), ("1", 1), (" 14 ", 14), ("30", 30), (7, 7)])
def test_remember_days_from_0_to_30_are_accepted(value: str | int, days: int) -> None:
    assert parse_remember_days(value) == days


@pytest.mark.parametrize("value", ["31", "-1", "1.5", "", "ten", "99999", "²", "٣", -3, 365])
def test_remember_days_outside_0_to_30_are_refused(value: str | int) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_remember_days(value)
    assert refused.value.field == "remember_days"
    assert f"0 (off) to {MAX_REMEMBER_DAYS}" in translate(refused.value.message)


@pytest.mark.parametrize("phr", [ADMINS, ALL])
def test_requiring_security_keys_while_they_are_off_is_refused(
    phr: PhishingResistantPolicy,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_key_settings(PasskeyPolicy.OFF, phr)
    assert refused.value.field == "phishing_resistant"
    check_key_settings(PasskeyPolicy.OFF, OFF)
    check_key_settings(PasskeyPolicy.SECOND_FACTOR, phr)
    check_key_settings(PasskeyPolicy.PASSWORDLESS, phr)


def test_security_keys_are_offered_unless_the_organization_turned_them_off() -> None:
    assert security_keys_offered(org(OFF))
    assert security_keys_offered(org(OFF, passkeys=PasskeyPolicy.PASSWORDLESS))
    assert not security_keys_offered(org(OFF, passkeys=PasskeyPolicy.OFF))
    assert not security_keys_offered(None)


# --- whom it covers, and since when ------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "role", "applies"),
    [
        (OFF, Role.MEMBER, False),
        (OFF, Role.ADMIN, False),
        (ADMINS, Role.MEMBER, False),
        (ADMINS, Role.ADMIN, True),
        (ALL, Role.MEMBER, True),
        (ALL, Role.ADMIN, True),
    ],
)
def test_the_requirement_covers_admins_or_everyone(
    policy: PhishingResistantPolicy, role: Role, applies: bool
) -> None:
    assert phishing_resistant_applies(policy, role) is applies
    assert org(policy, role=role).requires_security_key is applies


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (OFF, ADMINS, "now"),
        (OFF, ALL, "now"),
        (ADMINS, ALL, "now"),  # widened: members get their own grace
        (ALL, ADMINS, "kept"),  # narrowed: the admins' grace does not start again
        (ADMINS, ADMINS, "kept"),
        (ALL, ALL, "kept"),
        (ADMINS, OFF, None),
        (ALL, OFF, None),
        (OFF, OFF, None),
    ],
)
def test_the_grace_counts_from_when_the_requirement_was_switched_on_or_widened(
    before: PhishingResistantPolicy, after: PhishingResistantPolicy, expected: str | None
) -> None:
    earlier = NOW - timedelta(days=40)
    since = phishing_resistant_since_after(before, after, earlier, NOW)
    assert since == {"now": NOW, "kept": earlier, None: None}[expected]


def test_a_kept_requirement_without_a_recorded_start_starts_now() -> None:
    assert phishing_resistant_since_after(ALL, ALL, None, NOW) == NOW


def test_key_grace_end_is_since_plus_the_grace_days_or_none() -> None:
    assert key_grace_end(ALL, SINCE, 7) == SINCE + timedelta(days=7)
    assert key_grace_end(ALL, SINCE, 0) is None
    assert key_grace_end(OFF, SINCE, 7) is None
    assert key_grace_end(ADMINS, None, 7) is None


def test_only_members_who_were_here_before_it_began_get_the_grace() -> None:
    assert org(grace_days=7).key_grace_ends_at() == SINCE + timedelta(days=7)
    assert org(grace_days=7, joined_at=JOINED_AFTER).key_grace_ends_at() is None
    assert org(grace_days=0).key_grace_ends_at() is None
    # A member the requirement does not cover has no grace to speak of.
    assert org(ADMINS, grace_days=7).key_grace_ends_at() is None


# --- access_for: without a security key ---------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "role", "grace_days", "joined_at", "demand"),
    [
        (OFF, Role.MEMBER, 0, JOINED_BEFORE, Demand.NONE),
        (OFF, Role.ADMIN, 7, JOINED_BEFORE, Demand.NONE),
        (ADMINS, Role.MEMBER, 0, JOINED_BEFORE, Demand.NONE),
        (ADMINS, Role.MEMBER, 7, JOINED_BEFORE, Demand.NONE),
        (ADMINS, Role.ADMIN, 0, JOINED_BEFORE, Demand.ENROLL),
        (ADMINS, Role.ADMIN, 7, JOINED_BEFORE, Demand.GRACE),
        (ADMINS, Role.ADMIN, 7, JOINED_AFTER, Demand.ENROLL),
        (ALL, Role.MEMBER, 0, JOINED_BEFORE, Demand.ENROLL),
        (ALL, Role.MEMBER, 7, JOINED_BEFORE, Demand.GRACE),
        (ALL, Role.MEMBER, 7, JOINED_AFTER, Demand.ENROLL),
        (ALL, Role.ADMIN, 0, JOINED_BEFORE, Demand.ENROLL),
        (ALL, Role.ADMIN, 7, JOINED_BEFORE, Demand.GRACE),
        (ALL, Role.ADMIN, 2, JOINED_BEFORE, Demand.ENROLL),  # 3 days since: grace over
    ],
)
def test_without_a_key_the_members_covered_must_add_one_after_their_grace(
    policy: PhishingResistantPolicy,
    role: Role,
    grace_days: int,
    joined_at: datetime,
    demand: Demand,
) -> None:
    result = access(org(policy, role=role, grace_days=grace_days, joined_at=joined_at))
    assert result.demand is demand
    assert result.security_key is (demand is not Demand.NONE)
    if demand is Demand.GRACE:
        assert result.grace_ends_at == SINCE + timedelta(days=grace_days)
        assert result.because == "Acme"
    if demand is Demand.ENROLL:
        assert result.because == "Acme"


def test_the_grace_ends_exactly_at_its_end() -> None:
    current = org(grace_days=7)
    end = SINCE + timedelta(days=7)
    assert access(current, now=end - timedelta(seconds=1)).demand is Demand.GRACE
    assert access(current, now=end).demand is Demand.ENROLL


def test_a_key_is_owed_to_another_organization_that_requires_it_too() -> None:
    # A security key belongs to the account, as 2FA does: owed wherever the person is.
    here = org(OFF, org_id=1, name="Home")
    strict = org(ALL, org_id=2, name="Bank")
    result = access(here, others=(strict,))
    assert (result.demand, result.because, result.security_key) == (Demand.ENROLL, "Bank", True)


def test_the_current_organization_is_named_first_when_several_require_a_key() -> None:
    first = org(ALL, org_id=1, name="First")
    current = org(ALL, org_id=2, name="Current")
    assert access(current, others=(first,)).because == "Current"


def test_the_earliest_grace_end_is_shown_when_several_give_grace() -> None:
    later = org(ALL, org_id=1, name="Later", grace_days=30)
    sooner = org(ALL, org_id=2, name="Sooner", grace_days=10)
    result = access(later, others=(sooner,))
    assert (result.demand, result.because) == (Demand.GRACE, "Sooner")


def test_no_second_factor_at_all_is_set_up_first_where_2fa_is_overdue() -> None:
    # 2FA required and overdue, a key required too: the 2FA setup comes first (it offers a
    # security key where the organization allows them).
    current = org(ALL, two_factor=TwoFactorPolicy.REQUIRED)
    result = access(current, has_two_factor=False, verified=False)
    assert (result.demand, result.security_key) == (Demand.ENROLL, False)


def test_a_key_owed_now_comes_before_a_2fa_grace() -> None:
    two_factor_grace = MembershipView(
        organization_id=2,
        slug="slow",
        name="Slow",
        role=Role.MEMBER,
        joined_at=JOINED_BEFORE,
        policy=TwoFactorPolicy.REQUIRED,
        required_since=SINCE,
        grace_days=30,
    )
    result = access(
        org(ALL, org_id=1),
        has_two_factor=False,
        verified=False,
        others=(two_factor_grace,),
    )
    assert (result.demand, result.because, result.security_key) == (Demand.ENROLL, "Acme", True)


def test_a_2fa_grace_is_shown_before_a_key_grace() -> None:
    current = org(ALL, grace_days=7, two_factor=TwoFactorPolicy.REQUIRED)
    result = access(current, has_two_factor=False, verified=False)
    assert (result.demand, result.security_key) == (Demand.GRACE, False)


# --- access_for: with a security key -------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "role", "verified", "used_key", "demand"),
    [
        (OFF, Role.MEMBER, True, False, Demand.NONE),
        (OFF, Role.ADMIN, True, False, Demand.NONE),
        (ADMINS, Role.MEMBER, True, False, Demand.NONE),
        (ADMINS, Role.ADMIN, True, False, Demand.VERIFY),  # passed only a code
        (ADMINS, Role.ADMIN, True, True, Demand.NONE),
        (ADMINS, Role.ADMIN, False, True, Demand.VERIFY),  # used it, but not here yet
        (ALL, Role.MEMBER, True, False, Demand.VERIFY),
        (ALL, Role.MEMBER, True, True, Demand.NONE),
        (ALL, Role.MEMBER, False, True, Demand.VERIFY),
        (ALL, Role.MEMBER, False, False, Demand.VERIFY),
        (ALL, Role.ADMIN, True, False, Demand.VERIFY),
        (ALL, Role.ADMIN, True, True, Demand.NONE),
    ],
)
def test_with_a_key_the_members_covered_must_enter_with_it(
    policy: PhishingResistantPolicy, role: Role, verified: bool, used_key: bool, demand: Demand
) -> None:
    result = access(org(policy, role=role), has_key=True, verified=verified, used_key=used_key)
    assert result.demand is demand
    assert result.security_key is (demand is Demand.VERIFY)
    if demand is Demand.VERIFY:
        assert result.because == "Acme"


@pytest.mark.parametrize("grace_days", [0, 7])
def test_a_grace_is_for_adding_a_key_not_for_skipping_one_already_added(grace_days: int) -> None:
    result = access(org(ALL, grace_days=grace_days), has_key=True, used_key=False)
    assert (result.demand, result.security_key) == (Demand.VERIFY, True)


def test_a_code_does_not_answer_a_2fa_verification_where_a_key_is_required() -> None:
    current = org(ALL, two_factor=TwoFactorPolicy.REQUIRED)
    result = access(current, has_key=True, verified=False)
    assert (result.demand, result.security_key) == (Demand.VERIFY, True)


def test_a_2fa_verification_where_no_key_is_required_stays_a_code() -> None:
    current = org(ADMINS, two_factor=TwoFactorPolicy.REQUIRED)
    result = access(current, has_key=True, verified=False)
    assert (result.demand, result.security_key) == (Demand.VERIFY, False)


def test_without_a_key_the_2fa_verification_is_by_code_then_the_key_is_owed() -> None:
    current = org(ALL, two_factor=TwoFactorPolicy.REQUIRED)
    result = access(current, verified=False)
    assert (result.demand, result.security_key) == (Demand.VERIFY, False)
    after_code = access(current, verified=True)
    assert (after_code.demand, after_code.security_key) == (Demand.ENROLL, True)


def test_a_key_alone_counts_as_2fa_for_a_requiring_organization() -> None:
    current = org(OFF, two_factor=TwoFactorPolicy.REQUIRED)
    assert access(current, has_key=True, has_two_factor=False).demand is Demand.NONE
    unverified = access(current, has_key=True, has_two_factor=False, verified=False)
    assert unverified.demand is Demand.VERIFY


def test_a_key_is_another_method_than_sms_where_sms_is_no_longer_allowed() -> None:
    current = MembershipView(
        organization_id=1,
        slug="acme",
        name="Acme",
        role=Role.MEMBER,
        joined_at=JOINED_BEFORE,
        policy=TwoFactorPolicy.OPTIONAL,
        required_since=None,
        grace_days=0,
        methods_changed_at=SINCE,
    )
    sms_only = frozenset({"sms"})
    assert access(current, method_kinds=sms_only).another_method
    assert access(current, method_kinds=sms_only, has_key=True).demand is Demand.NONE


def test_a_key_required_elsewhere_is_used_there_not_here() -> None:
    here = org(OFF, org_id=1, name="Home")
    strict = org(ALL, org_id=2, name="Bank")
    assert access(here, has_key=True, others=(strict,)).demand is Demand.NONE
