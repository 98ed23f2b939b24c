"""Organization 2FA policies: what they demand of one person in one session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twofold.core.errors import InvalidInput
from twofold.core.policy import (
    Access,
    Demand,
    MembershipView,
    Role,
    TwoFactorPolicy,
    access_for,
    blockers_to_disabling,
    days_left,
    grace_end,
    must_always_have_2fa,
    parse_policy,
    parse_role,
    two_factor_offered,
)
from twofold.core.words import Words, translate

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
REQUIRED_SINCE = NOW - timedelta(days=3)
JOINED_BEFORE = REQUIRED_SINCE - timedelta(days=30)
JOINED_AFTER = REQUIRED_SINCE + timedelta(hours=1)


def org(
    policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    *,
    org_id: int = 1,
    name: str = "Acme",
    role: Role = Role.MEMBER,
    joined_at: datetime = JOINED_BEFORE,
    required_since: datetime | None = None,
    grace_days: int = 0,
) -> MembershipView:
    if policy is TwoFactorPolicy.REQUIRED and required_since is None:
        required_since = REQUIRED_SINCE
    return MembershipView(
        organization_id=org_id,
        slug=name.lower(),
        name=name,
        role=role,
        joined_at=joined_at,
        policy=policy,
        required_since=required_since,
        grace_days=grace_days,
    )


def access(
    current: MembershipView | None,
    *,
    has_two_factor: bool = False,
    is_superadmin: bool = False,
    verified: bool = False,
    others: tuple[MembershipView, ...] = (),
    now: datetime = NOW,
) -> Access:
    memberships = ([current] if current else []) + list(others)
    return access_for(
        has_two_factor=has_two_factor,
        is_superadmin=is_superadmin,
        memberships=memberships,
        current=current,
        verified_for_current=verified,
        now=now,
    )


# --- access_for: people with 2FA ---------------------------------------------------------


def test_2fa_on_in_a_required_org_not_verified_this_session_must_verify() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED), has_two_factor=True)
    assert result == Access(Demand.VERIFY, because="Acme")


def test_2fa_on_in_a_required_org_already_verified_this_session_demands_nothing() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED), has_two_factor=True, verified=True)
    assert result.demand is Demand.NONE


@pytest.mark.parametrize("policy", [TwoFactorPolicy.OPTIONAL, TwoFactorPolicy.OFF])
def test_2fa_on_in_an_org_that_does_not_require_it_demands_nothing_even_unverified(
    policy: TwoFactorPolicy,
) -> None:
    assert access(org(policy), has_two_factor=True).demand is Demand.NONE


def test_an_admin_with_2fa_in_an_optional_org_demands_nothing() -> None:
    result = access(org(role=Role.ADMIN), has_two_factor=True)
    assert result.demand is Demand.NONE


def test_a_superadmin_with_2fa_in_a_required_org_still_verifies_per_organization() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED), has_two_factor=True, is_superadmin=True)
    assert result.demand is Demand.VERIFY


# --- access_for: people without 2FA ------------------------------------------------------


@pytest.mark.parametrize("policy", list(TwoFactorPolicy))
def test_an_org_admin_without_2fa_must_enroll_whatever_the_policy(
    policy: TwoFactorPolicy,
) -> None:
    result = access(org(policy, role=Role.ADMIN))
    assert result == Access(Demand.ENROLL, because="administrators")


@pytest.mark.parametrize("policy", list(TwoFactorPolicy))
def test_a_superadmin_without_2fa_must_enroll_whatever_the_policy(
    policy: TwoFactorPolicy,
) -> None:
    result = access(org(policy), is_superadmin=True)
    assert result == Access(Demand.ENROLL, because="administrators")


def test_admin_of_another_org_must_enroll_even_in_an_org_with_2fa_off() -> None:
    other = org(TwoFactorPolicy.OFF, org_id=2, name="Other", role=Role.ADMIN)
    result = access(org(TwoFactorPolicy.OFF), others=(other,))
    assert result.demand is Demand.ENROLL


def test_admins_get_no_grace_period() -> None:
    current = org(TwoFactorPolicy.REQUIRED, role=Role.ADMIN, grace_days=30)
    assert access(current).demand is Demand.ENROLL


def test_a_superadmin_without_any_organization_must_enroll() -> None:
    assert access(None, is_superadmin=True).demand is Demand.ENROLL


def test_required_without_grace_means_enroll_now_because_of_the_org() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED))
    assert result == Access(Demand.ENROLL, because="Acme")


def test_required_with_grace_not_yet_over_may_postpone_until_the_end_date() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED, grace_days=7))
    assert result == Access(
        Demand.GRACE, grace_ends_at=REQUIRED_SINCE + timedelta(days=7), because="Acme"
    )


def test_grace_one_second_before_its_end_still_applies() -> None:
    end = REQUIRED_SINCE + timedelta(days=7)
    result = access(org(TwoFactorPolicy.REQUIRED, grace_days=7), now=end - timedelta(seconds=1))
    assert result.demand is Demand.GRACE


def test_at_the_end_of_grace_enrollment_is_enforced() -> None:
    end = REQUIRED_SINCE + timedelta(days=7)
    result = access(org(TwoFactorPolicy.REQUIRED, grace_days=7), now=end)
    assert result == Access(Demand.ENROLL, because="Acme")


def test_after_grace_has_ended_enrollment_is_enforced() -> None:
    result = access(org(TwoFactorPolicy.REQUIRED, grace_days=2))
    assert result.demand is Demand.ENROLL


def test_members_who_joined_after_required_since_get_no_grace() -> None:
    current = org(TwoFactorPolicy.REQUIRED, grace_days=30, joined_at=JOINED_AFTER)
    assert access(current).demand is Demand.ENROLL


def test_a_member_who_joined_at_the_very_moment_required_began_gets_no_grace() -> None:
    current = org(TwoFactorPolicy.REQUIRED, grace_days=30, joined_at=REQUIRED_SINCE)
    assert access(current).demand is Demand.ENROLL


@pytest.mark.parametrize("policy", [TwoFactorPolicy.OPTIONAL, TwoFactorPolicy.OFF])
def test_a_plain_member_without_2fa_in_a_non_required_org_is_free(
    policy: TwoFactorPolicy,
) -> None:
    assert access(org(policy)) == Access(Demand.NONE)


def test_a_required_org_elsewhere_makes_a_member_without_2fa_enroll() -> None:
    required_elsewhere = org(TwoFactorPolicy.REQUIRED, org_id=2, name="Strict")
    result = access(org(), others=(required_elsewhere,))
    assert result.demand is Demand.ENROLL
    assert result.because == "Strict"


def test_a_member_of_no_organization_without_2fa_is_free() -> None:
    assert access(None).demand is Demand.NONE


# --- grace_ends_at -----------------------------------------------------------------------


def test_grace_ends_grace_days_after_required_since() -> None:
    view = org(TwoFactorPolicy.REQUIRED, grace_days=5)
    assert view.grace_ends_at() == REQUIRED_SINCE + timedelta(days=5)


@pytest.mark.parametrize("policy", [TwoFactorPolicy.OPTIONAL, TwoFactorPolicy.OFF])
def test_there_is_no_grace_end_unless_required(policy: TwoFactorPolicy) -> None:
    assert org(policy, grace_days=5, required_since=REQUIRED_SINCE).grace_ends_at() is None


def test_zero_grace_days_means_no_grace_end() -> None:
    assert org(TwoFactorPolicy.REQUIRED, grace_days=0).grace_ends_at() is None


# --- blockers_to_disabling ----------------------------------------------------------------


def said(reasons: list[Words]) -> list[str]:
    return [translate(reason) for reason in reasons]


def test_nothing_blocks_disabling_for_a_member_of_optional_and_off_orgs() -> None:
    memberships = [org(), org(TwoFactorPolicy.OFF, org_id=2, name="Other")]
    assert blockers_to_disabling(memberships, is_superadmin=False) == []


def test_every_org_requiring_2fa_is_named_as_a_blocker() -> None:
    memberships = [
        org(TwoFactorPolicy.REQUIRED, name="Acme"),
        org(TwoFactorPolicy.OPTIONAL, org_id=2, name="Loose"),
        org(TwoFactorPolicy.REQUIRED, org_id=3, name="Bank"),
    ]
    assert blockers_to_disabling(memberships, is_superadmin=False) == ["Acme", "Bank"]


def test_an_admin_role_blocks_disabling() -> None:
    assert said(blockers_to_disabling([org(role=Role.ADMIN)], is_superadmin=False)) == [
        "organization administrators"
    ]


def test_a_superadmin_is_blocked_as_platform_administrator() -> None:
    memberships = [org(role=Role.ADMIN)]
    assert said(blockers_to_disabling(memberships, is_superadmin=True)) == [
        "platform administrators"
    ]


def test_required_orgs_and_admin_role_are_both_named() -> None:
    memberships = [org(TwoFactorPolicy.REQUIRED, name="Acme", role=Role.ADMIN)]
    assert said(blockers_to_disabling(memberships, is_superadmin=False)) == [
        "Acme",
        "organization administrators",
    ]


# --- two_factor_offered / must_always_have_2fa --------------------------------------------


def test_2fa_is_not_offered_when_every_org_has_it_off() -> None:
    memberships = [org(TwoFactorPolicy.OFF), org(TwoFactorPolicy.OFF, org_id=2, name="B")]
    assert not two_factor_offered(memberships, is_superadmin=False, has_two_factor=False)


def test_2fa_is_offered_when_any_org_has_it_on() -> None:
    memberships = [org(TwoFactorPolicy.OFF), org(TwoFactorPolicy.OPTIONAL, org_id=2, name="B")]
    assert two_factor_offered(memberships, is_superadmin=False, has_two_factor=False)


def test_2fa_stays_offered_to_a_person_who_has_it_in_off_orgs() -> None:
    assert two_factor_offered([org(TwoFactorPolicy.OFF)], is_superadmin=False, has_two_factor=True)


def test_2fa_is_offered_to_an_admin_of_an_org_with_it_off() -> None:
    memberships = [org(TwoFactorPolicy.OFF, role=Role.ADMIN)]
    assert two_factor_offered(memberships, is_superadmin=False, has_two_factor=False)


def test_2fa_is_offered_to_a_superadmin_in_off_orgs() -> None:
    assert two_factor_offered([org(TwoFactorPolicy.OFF)], is_superadmin=True, has_two_factor=False)


def test_2fa_is_offered_to_a_person_without_organizations() -> None:
    assert two_factor_offered([], is_superadmin=False, has_two_factor=False)


def test_only_superadmins_and_org_admins_must_always_have_2fa() -> None:
    assert must_always_have_2fa([], is_superadmin=True)
    assert must_always_have_2fa([org(), org(org_id=2, role=Role.ADMIN)], is_superadmin=False)
    assert not must_always_have_2fa([org(TwoFactorPolicy.REQUIRED)], is_superadmin=False)


# --- days_left -------------------------------------------------------------------------


def test_days_left_counts_whole_days() -> None:
    assert days_left(NOW + timedelta(days=3), NOW) == 3


def test_days_left_counts_a_started_day() -> None:
    assert days_left(NOW + timedelta(days=2, hours=1), NOW) == 3


def test_days_left_shows_one_on_the_last_day() -> None:
    assert days_left(NOW + timedelta(seconds=1), NOW) == 1
    assert days_left(NOW + timedelta(hours=23, minutes=59), NOW) == 1


def test_days_left_is_zero_at_and_after_the_end() -> None:
    assert days_left(NOW, NOW) == 0
    assert days_left(NOW - timedelta(days=2), NOW) == 0


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("off", TwoFactorPolicy.OFF),
        ("optional", TwoFactorPolicy.OPTIONAL),
        (" Required ", TwoFactorPolicy.REQUIRED),
    ],
)
def test_parse_policy_accepts_the_three_values_in_any_case(
    raw: str, expected: TwoFactorPolicy
) -> None:
    assert parse_policy(raw) is expected


@pytest.mark.parametrize("raw", ["", "on", "mandatory", "require", "off,required"])
def test_parse_policy_refuses_anything_else_with_a_clear_message(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_policy(raw)
    assert caught.value.field == "two_factor"
    assert caught.value.detail == "The 2FA policy must be one of: off, optional, required."


@pytest.mark.parametrize(("raw", "expected"), [("member", Role.MEMBER), (" ADMIN", Role.ADMIN)])
def test_parse_role_accepts_member_and_admin(raw: str, expected: Role) -> None:
    assert parse_role(raw) is expected


@pytest.mark.parametrize("raw", ["", "owner", "superadmin", "admins"])
def test_parse_role_refuses_anything_else_with_a_clear_message(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_role(raw)
    assert caught.value.field == "role"
    assert caught.value.detail == "The role must be 'member' or 'admin'."


def test_grace_end_is_required_since_plus_the_grace_days_only_when_required() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    assert grace_end(TwoFactorPolicy.REQUIRED, since, 7) == since + timedelta(days=7)
    assert grace_end(TwoFactorPolicy.REQUIRED, since, 0) is None
    assert grace_end(TwoFactorPolicy.REQUIRED, None, 7) is None
    assert grace_end(TwoFactorPolicy.OPTIONAL, since, 7) is None
