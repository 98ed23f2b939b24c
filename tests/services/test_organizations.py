"""Organizations, memberships and 2FA policies: creating, changing, enforcing, switching."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from support import Person, join, make_member, make_org, set_policy
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    NotPasswordVerified,
    TwoFactorRequired,
)
from twofold.core.policy import Demand, Role, TwoFactorPolicy
from twofold.core.sessions import Method, amr_methods
from twofold.otp.clock import FixedClock, unix_time
from twofold.services import account, organizations, sessions
from twofold.services.organizations import Standing
from twofold.services.runtime import Runtime
from twofold.store.models import (
    Authenticator,
    AuthSession,
    Membership,
    Organization,
    RecoveryCode,
    User,
)

DAY = 24 * 3600


# --- helpers ---------------------------------------------------------------------------


def org_row(runtime: Runtime, slug: str) -> Organization:
    with runtime.db() as db:
        return organizations.get_organization(db, slug)


def standing_of(runtime: Runtime, token: str) -> Standing:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None, "the session is gone"
        user = db.get(User, session.user_id)
        assert user is not None
        return organizations.standing(db, runtime, user, session)


def session_of(runtime: Runtime, token: str) -> AuthSession:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None, "the session is gone"
        return session


def switch(runtime: Runtime, token: str, slug: str, steps) -> None:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        user = db.get(User, session.user_id)
        assert user is not None
        organizations.switch_organization(db, runtime, session, user, slug, steps.client)


def signed_in(steps, person: Person, clock: FixedClock) -> str:
    """A fully signed-in session's token (with the code when the person has 2FA)."""
    started = steps.sign_in(person)
    if not started.needs_second_factor:
        return str(started.token)
    clock.advance(30)
    return str(steps.totp(started.token, person.totp(clock)))


def session_count(runtime: Runtime, person: Person) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == person.id))
            or 0
        )


def second_factor_rows(runtime: Runtime, person: Person) -> tuple[int, int]:
    with runtime.db() as db:
        authenticators = db.scalar(
            select(func.count(Authenticator.id)).where(Authenticator.user_id == person.id)
        )
        codes = db.scalar(
            select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == person.id)
        )
        return int(authenticators or 0), int(codes or 0)


def org_count(runtime: Runtime) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count(Organization.id))) or 0)


# --- creating organizations ------------------------------------------------------------


def test_create_organization_normalizes_the_slug_and_defaults_the_name(
    runtime: Runtime, steps
) -> None:
    make_org(runtime, "  Acme-1 ")
    organization = org_row(runtime, "acme-1")
    assert organization.name == "acme-1"
    assert organization.two_factor_policy == "optional"
    assert organization.required_since is None
    assert organization.grace_days == 0
    assert not organization.signup_open
    [event] = steps.events(AuditEventType.ORGANIZATION_CREATED)
    assert event.organization_id == organization.id
    assert steps.detail(event) == {"slug": "acme-1", "two_factor": "optional", "signup_open": False}


def test_an_organization_created_as_required_counts_from_its_creation(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="The Bank")
    organization = org_row(runtime, "bank")
    assert organization.name == "The Bank"
    assert organization.required_since == clock.now()


@pytest.mark.parametrize(
    "slug", ["a", "-acme", "acme corp", "acme_corp", "acmé", "acme/..", "", "x" * 64]
)
def test_a_malformed_slug_is_refused_and_nothing_is_created(runtime: Runtime, slug: str) -> None:
    before = org_count(runtime)
    with pytest.raises(InvalidInput) as caught:
        make_org(runtime, slug)
    assert caught.value.field == "slug"
    assert org_count(runtime) == before


def test_slugs_of_two_and_of_sixty_three_characters_are_accepted(runtime: Runtime) -> None:
    make_org(runtime, "ab")
    make_org(runtime, "9" + "x" * 62)
    assert org_row(runtime, "9" + "x" * 62).slug == "9" + "x" * 62


def test_a_duplicate_slug_in_any_case_is_refused(runtime: Runtime) -> None:
    make_org(runtime, "acme")
    before = org_count(runtime)
    with pytest.raises(AlreadyExists) as caught:
        make_org(runtime, "ACME")
    assert caught.value.field == "slug"
    assert org_count(runtime) == before


def test_a_name_over_two_hundred_characters_is_refused(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_org(runtime, "acme", name="n" * 201)
    assert caught.value.field == "name"


def test_an_unknown_organization_is_not_found_with_its_name(runtime: Runtime) -> None:
    with runtime.db() as db, pytest.raises(NotFound) as caught:
        organizations.get_organization(db, "nowhere")
    assert caught.value.detail == "There is no organization 'nowhere'."


# --- changing the policy ------------------------------------------------------------------


def test_switching_required_on_starts_the_clock_and_is_audited(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    clock.advance(DAY)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=7)
    organization = org_row(runtime, "acme")
    assert organization.two_factor_policy == "required"
    assert organization.required_since == clock.now()
    assert organization.grace_days == 7
    [event] = steps.events(AuditEventType.ORGANIZATION_POLICY_CHANGED)
    assert event.organization_id == organization.id
    assert steps.detail(event) == {
        "before": "optional (grace 0 days)",
        "after": "required (grace 7 days)",
    }


def test_changing_the_grace_of_a_required_org_keeps_required_since(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=7)
    since = org_row(runtime, "acme").required_since
    clock.advance(3 * DAY)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=14)
    organization = org_row(runtime, "acme")
    assert organization.required_since == since
    assert organization.grace_days == 14


def test_leaving_grace_days_out_keeps_the_current_grace(runtime: Runtime) -> None:
    make_org(runtime, "acme")
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=7)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED)
    assert org_row(runtime, "acme").grace_days == 7


def test_turning_required_off_clears_required_since_and_on_again_restarts_it(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    set_policy(runtime, "acme", TwoFactorPolicy.OPTIONAL)
    assert org_row(runtime, "acme").required_since is None
    clock.advance(DAY)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED)
    assert org_row(runtime, "acme").required_since == clock.now()


@pytest.mark.parametrize("grace_days", [-1, 366, 10_000])
def test_a_grace_period_out_of_bounds_is_refused_and_nothing_changes(
    runtime: Runtime, steps, grace_days: int
) -> None:
    make_org(runtime, "acme")
    with pytest.raises(InvalidInput) as caught:
        set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=grace_days)
    assert caught.value.field == "grace_days"
    organization = org_row(runtime, "acme")
    assert organization.two_factor_policy == "optional"
    assert organization.required_since is None
    assert steps.events(AuditEventType.ORGANIZATION_POLICY_CHANGED) == []


def test_a_member_who_joined_before_required_may_postpone_during_grace(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    person = make_member(runtime, "bob", "acme")
    clock.advance(DAY)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=10)
    since = clock.now()
    clock.advance(3 * DAY)
    access = standing_of(runtime, signed_in(steps, person, clock)).access
    assert access.demand is Demand.GRACE
    assert access.grace_ends_at == since + timedelta(days=10)
    assert access.because == "acme"


def test_once_the_grace_period_is_over_the_member_must_enroll(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    person = make_member(runtime, "bob", "acme")
    clock.advance(60)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=2)
    clock.advance(2 * DAY - 3600)
    token = signed_in(steps, person, clock)
    assert standing_of(runtime, token).access.demand is Demand.GRACE
    clock.advance(3600)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL


def test_a_shorter_grace_applies_at_once_to_sessions_already_open(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    person = make_member(runtime, "bob", "acme")
    token = signed_in(steps, person, clock)
    clock.advance(60)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=30)
    assert standing_of(runtime, token).access.demand is Demand.GRACE
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=0)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL


def test_a_longer_grace_applies_at_once_to_sessions_already_open(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    person = make_member(runtime, "bob", "acme")
    clock.advance(60)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=1)
    since = clock.now()
    clock.advance(2 * DAY)
    token = signed_in(steps, person, clock)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=5)
    access = standing_of(runtime, token).access
    assert access.demand is Demand.GRACE
    assert access.grace_ends_at == since + timedelta(days=5)


def test_a_member_added_after_required_began_gets_no_grace(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=30)
    clock.advance(60)
    person = make_member(runtime, "bob", "acme")
    token = signed_in(steps, person, clock)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL


def test_sign_out_everyone_ends_every_session_of_members_and_only_theirs(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "other")
    bob = make_member(runtime, "bob", "acme")
    carol = make_member(runtime, "carol", "other")
    join(runtime, carol, "acme")  # a member whose current organization is another one
    outsider = make_member(runtime, "dave", "other")
    for person in (bob, bob, carol, outsider):
        signed_in(steps, person, clock)
    ended = set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, sign_out_everyone=True)
    assert ended == 3
    assert session_count(runtime, bob) == 0
    assert session_count(runtime, carol) == 0
    assert session_count(runtime, outsider) == 1
    [event] = steps.events(AuditEventType.ORGANIZATION_MEMBERS_SIGNED_OUT)
    assert event.organization_id == org_row(runtime, "acme").id
    assert steps.detail(event) == {"sessions_ended": 3}


def test_without_sign_out_everyone_sessions_stay_open(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    signed_in(steps, bob, clock)
    assert set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED) == 0
    assert session_count(runtime, bob) == 1
    assert steps.events(AuditEventType.ORGANIZATION_MEMBERS_SIGNED_OUT) == []


# --- previewing a policy ----------------------------------------------------------------


def test_preview_counts_members_without_2fa_and_changes_nothing(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "other")
    make_member(runtime, "bob", "acme", with_totp=True)
    carol = make_member(runtime, "carol", "acme")
    with runtime.db() as db:  # a setup begun but not confirmed is no 2FA
        user = db.get(User, carol.id)
        assert user is not None
        account.begin_totp_enrollment(db, runtime, user)
    make_member(runtime, "dave", "acme")
    make_member(runtime, "erin", "other")  # another organization's member is not counted
    clock.advance(60)
    with runtime.db() as db:
        organization = organizations.get_organization(db, "acme")
        effect = organizations.preview_policy(
            db, runtime, organization, two_factor=TwoFactorPolicy.REQUIRED, grace_days=5
        )
    assert effect.members == 3
    assert effect.members_without_2fa == 2
    assert effect.grace_ends_at == clock.now() + timedelta(days=5)
    assert org_row(runtime, "acme").two_factor_policy == "optional"
    assert steps.events(AuditEventType.ORGANIZATION_POLICY_CHANGED) == []


def test_preview_of_a_grace_change_counts_from_when_required_began(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    since = clock.now()
    clock.advance(4 * DAY)
    with runtime.db() as db:
        organization = organizations.get_organization(db, "acme")
        effect = organizations.preview_policy(
            db, runtime, organization, two_factor=TwoFactorPolicy.REQUIRED, grace_days=10
        )
    assert effect.grace_ends_at == since + timedelta(days=10)


def test_preview_without_grace_or_requirement_has_no_end_date(runtime: Runtime) -> None:
    make_org(runtime, "acme")
    with runtime.db() as db:
        organization = organizations.get_organization(db, "acme")
        for policy in TwoFactorPolicy:
            effect = organizations.preview_policy(
                db, runtime, organization, two_factor=policy, grace_days=None
            )
            assert effect.grace_ends_at is None


def test_preview_refuses_a_grace_period_out_of_bounds(runtime: Runtime) -> None:
    make_org(runtime, "acme")
    with runtime.db() as db:
        organization = organizations.get_organization(db, "acme")
        with pytest.raises(InvalidInput):
            organizations.preview_policy(
                db, runtime, organization, two_factor=TwoFactorPolicy.REQUIRED, grace_days=-3
            )


# --- memberships ------------------------------------------------------------------------


def test_add_member_gives_the_role_and_is_audited(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "acme", Role.ADMIN)
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        views = organizations.membership_views(db, user)
    assert [(v.slug, v.role) for v in views] == [("default", Role.MEMBER), ("acme", Role.ADMIN)]
    [event] = steps.events(AuditEventType.MEMBERSHIP_ADDED)
    assert event.user_id == bob.id
    assert steps.detail(event) == {"role": "admin"}


def test_adding_a_member_twice_is_refused(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    with pytest.raises(AlreadyExists) as caught:
        join(runtime, bob, "acme", Role.ADMIN)
    assert caught.value.detail == "'bob' is already a member of 'acme'."
    assert steps.events(AuditEventType.MEMBERSHIP_ADDED) == []
    with runtime.db() as db:
        roles = list(db.scalars(select(Membership.role).where(Membership.user_id == bob.id)))
    assert roles == ["member"]


def test_remove_member_deletes_the_membership_and_is_audited(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "acme")
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        organizations.remove_member(db, runtime, user, organizations.get_organization(db, "acme"))
        db.commit()
        assert [v.slug for v in organizations.membership_views(db, user)] == ["default"]
    [event] = steps.events(AuditEventType.MEMBERSHIP_REMOVED)
    assert event.user_id == bob.id


def test_removing_someone_who_is_not_a_member_is_not_found(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        acme = organizations.get_organization(db, "acme")
        with pytest.raises(NotFound) as caught:
            organizations.remove_member(db, runtime, user, acme)
    assert caught.value.detail == "'bob' is not a member of 'acme'."
    assert steps.events(AuditEventType.MEMBERSHIP_REMOVED) == []


def test_a_session_in_an_org_the_person_was_removed_from_falls_back_to_another(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    join(runtime, bob, "default")
    token = signed_in(steps, bob, clock)
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        organizations.remove_member(db, runtime, user, organizations.get_organization(db, "acme"))
        db.commit()
    current = standing_of(runtime, token).current
    assert current is not None
    assert current.slug == "default"
    assert session_of(runtime, token).organization_id == current.organization_id


# --- turning 2FA off ----------------------------------------------------------------------


def disable(runtime: Runtime, person: Person, steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        account.disable_two_factor(db, runtime, user, person.password, steps.client)


def test_2fa_cannot_be_turned_off_while_an_org_requires_it(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "acme")
    with pytest.raises(TwoFactorRequired) as caught:
        disable(runtime, bob, steps)
    assert caught.value.reasons == ["Acme Inc."]
    assert second_factor_rows(runtime, bob) == (1, 10)
    assert steps.events(AuditEventType.TWO_FACTOR_DISABLED) == []


def test_an_org_admin_cannot_turn_2fa_off(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.OFF)
    bob = make_member(runtime, "bob", "acme", role=Role.ADMIN, with_totp=True)
    with pytest.raises(TwoFactorRequired) as caught:
        disable(runtime, bob, steps)
    assert caught.value.reasons == ["organization administrators"]
    assert second_factor_rows(runtime, bob) == (1, 10)


def test_a_superadmin_cannot_turn_2fa_off(runtime: Runtime, steps) -> None:
    root = make_member(runtime, "root", "default", superadmin=True, with_totp=True)
    with pytest.raises(TwoFactorRequired) as caught:
        disable(runtime, root, steps)
    assert caught.value.reasons == ["platform administrators"]
    assert second_factor_rows(runtime, root) == (1, 10)


def test_a_member_of_optional_orgs_only_can_turn_2fa_off(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.OFF)
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "acme")
    disable(runtime, bob, steps)
    assert second_factor_rows(runtime, bob) == (0, 0)


# --- switching the current organization -------------------------------------------------


def test_switching_to_an_org_of_ones_own_makes_it_current_and_is_audited(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "acme")
    token = signed_in(steps, bob, clock)
    switch(runtime, token, "acme", steps)
    acme_id = org_row(runtime, "acme").id
    assert session_of(runtime, token).organization_id == acme_id
    [event] = steps.events(AuditEventType.ORGANIZATION_SWITCHED)
    assert (event.user_id, event.organization_id) == (bob.id, acme_id)
    assert event.ip == steps.client.ip


def test_switching_to_an_org_one_is_not_a_member_of_is_forbidden_and_audited(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    token = signed_in(steps, bob, clock)
    before = session_of(runtime, token).organization_id
    with pytest.raises(Forbidden):
        switch(runtime, token, "acme", steps)
    assert session_of(runtime, token).organization_id == before
    [event] = steps.events(AuditEventType.ORGANIZATION_SWITCH_REFUSED)
    assert (event.user_id, event.organization_id) == (bob.id, org_row(runtime, "acme").id)
    assert steps.detail(event) == {"reason": "not_a_member"}
    assert steps.events(AuditEventType.ORGANIZATION_SWITCHED) == []


@pytest.mark.parametrize("slug", ["nowhere", "", "ACME", "acme' or 1=1 --", "a" * 500])
def test_switching_to_an_unknown_slug_is_forbidden_and_audited(
    runtime: Runtime, clock: FixedClock, steps, slug: str
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "acme")
    token = signed_in(steps, bob, clock)
    before = session_of(runtime, token).organization_id
    with pytest.raises(Forbidden):
        switch(runtime, token, slug, steps)
    assert session_of(runtime, token).organization_id == before
    [event] = steps.events(AuditEventType.ORGANIZATION_SWITCH_REFUSED)
    assert event.organization_id is None
    assert steps.detail(event) == {"reason": "unknown_organization"}


def test_a_superadmin_cannot_switch_into_an_org_they_do_not_belong_to(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme")
    root = make_member(runtime, "root", "default", superadmin=True, with_totp=True)
    token = signed_in(steps, root, clock)
    before = session_of(runtime, token).organization_id
    with pytest.raises(Forbidden):
        switch(runtime, token, "acme", steps)
    assert session_of(runtime, token).organization_id == before
    assert standing_of(runtime, token).current is not None
    assert steps.events(AuditEventType.ORGANIZATION_SWITCHED) == []


# --- the second factor per organization ---------------------------------------------------


def test_passing_the_code_at_sign_in_marks_the_current_org_verified(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    token = signed_in(steps, bob, clock)
    acme_id = org_row(runtime, "acme").id
    assert sessions.verified_organizations(session_of(runtime, token)) == {acme_id}
    assert standing_of(runtime, token).access.demand is Demand.NONE


def test_switching_into_a_required_org_asks_for_the_code_again(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme")
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "acme")
    token = signed_in(steps, bob, clock)
    switch(runtime, token, "acme", steps)
    access = standing_of(runtime, token).access
    assert access.demand is Demand.VERIFY
    assert access.because == "Acme"


def test_a_code_in_a_signed_in_session_verifies_the_new_org_with_a_new_token(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "acme")
    token = signed_in(steps, bob, clock)
    switch(runtime, token, "acme", steps)
    clock.advance(30)
    new_token = steps.totp(token, bob.totp(clock))
    assert new_token != token
    assert steps.find(token) is None
    verified = sessions.verified_organizations(session_of(runtime, new_token))
    assert verified == {org_row(runtime, "default").id, org_row(runtime, "acme").id}
    assert standing_of(runtime, new_token).access.demand is Demand.NONE


def test_switching_back_to_an_org_already_verified_asks_nothing(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    join(runtime, bob, "bank")
    token = signed_in(steps, bob, clock)
    switch(runtime, token, "bank", steps)
    clock.advance(30)
    token = steps.totp(token, bob.totp(clock))
    switch(runtime, token, "acme", steps)
    assert standing_of(runtime, token).access.demand is Demand.NONE
    switch(runtime, token, "bank", steps)
    assert standing_of(runtime, token).access.demand is Demand.NONE


def test_verifying_one_required_org_does_not_verify_another(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    join(runtime, bob, "bank")
    token = signed_in(steps, bob, clock)
    switch(runtime, token, "bank", steps)
    assert standing_of(runtime, token).access.demand is Demand.VERIFY


def test_a_code_is_refused_when_the_signed_in_session_has_nothing_left_to_verify(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    bob = make_member(runtime, "bob", "default", with_totp=True)
    token = signed_in(steps, bob, clock)
    clock.advance(30)
    with pytest.raises(NotPasswordVerified):
        steps.totp(token, bob.totp(clock))


def test_a_person_without_2fa_switching_into_a_required_org_must_enroll(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "default")
    token = signed_in(steps, bob, clock)
    assert standing_of(runtime, token).access.demand is Demand.NONE
    join(runtime, bob, "acme")  # added while signed in
    switch(runtime, token, "acme", steps)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL


def test_a_required_org_that_is_not_current_still_demands_enrollment(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "acme")
    token = signed_in(steps, bob, clock)
    access = standing_of(runtime, token).access
    assert access.demand is Demand.ENROLL
    assert access.because == "Acme"


def test_enrolling_in_a_session_rotates_the_token_and_verifies_the_current_org(
    runtime: Runtime, clock: FixedClock, steps
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme")
    token = signed_in(steps, bob, clock)
    assert standing_of(runtime, token).access.demand is Demand.ENROLL
    with runtime.db() as db:
        user = db.get(User, bob.id)
        session = sessions.find_session(db, runtime, token)
        assert user is not None
        assert session is not None
        pending = account.begin_totp_enrollment(db, runtime, user)
        code = pyotp.TOTP(pending.secret_b32).at(unix_time(clock.now()))
        codes, new_token = account.confirm_totp_enrollment_in_session(
            db, runtime, user, session, code, steps.client
        )
    assert len(codes) == 10
    assert new_token != token
    assert steps.find(token) is None
    session = session_of(runtime, new_token)
    assert sessions.verified_organizations(session) == {org_row(runtime, "acme").id}
    assert Method.TOTP in amr_methods(session.amr)
    assert standing_of(runtime, new_token).access.demand is Demand.NONE
