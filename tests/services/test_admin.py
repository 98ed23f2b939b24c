"""The admin console's use cases: who may act on whom, the members table, resets and the
re-enrollment link, unlocks, deactivation and the audit log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support import (
    STRONG_PASSWORD,
    CapturingMailer,
    Person,
    allow_sms,
    columns_holding,
    enroll_totp,
    join,
    snapshot,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    Forbidden,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    ReenrollmentLinkRequired,
)
from twofold.core.lockout import PERMANENT_LOCK_AT
from twofold.core.policy import Demand, Role, TwoFactorPolicy
from twofold.core.words import translate
from twofold.otp.clock import FixedClock, unix_time
from twofold.services import (
    account,
    admin_scope,
    audit_log,
    mail,
    member_actions,
    members,
    organizations,
    reenrollment,
    second_factor,
    sessions,
    signin,
    sms,
    users,
)
from twofold.services.admin_scope import AdminScope
from twofold.services.audit_log import AuditFilter
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    AuthSession,
    Organization,
    OutgoingEmail,
    RecoveryCode,
    SmsChallenge,
    User,
)

CLIENT = ClientInfo(ip="198.51.100.4", user_agent="Mozilla/5.0 (admin browser)")
LINK = re.compile(r"https?://\S+/reenroll/[A-Za-z0-9_-]+")


# --- helpers ---------------------------------------------------------------------------


def delivered(runtime: Runtime) -> list[EmailMessage]:
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    return mailer.messages


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def make_org(
    runtime: Runtime, slug: str, policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL
) -> int:
    with runtime.db() as db:
        organization = organizations.create_organization(
            db, runtime, slug=slug, name=slug.title(), two_factor=policy, signup_open=False
        )
        db.commit()
        return organization.id


def person(
    runtime: Runtime,
    login: str,
    slug: str = "acme",
    *,
    role: Role = Role.MEMBER,
    superadmin: bool = False,
    with_totp: bool = False,
    email: str | None = "",
) -> Person:
    """A person in `slug`; by default with a confirmed address login@example.org."""
    address = f"{login}@example.org" if email == "" else email
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login=login,
            password=STRONG_PASSWORD,
            email=address,
            organization_slug=slug,
            role=role.value,
            superadmin=superadmin,
            email_verified=True,
        )
        db.commit()
        who = Person(id=user.id, login=user.login, password=STRONG_PASSWORD)
        if with_totp:
            enroll_totp(db, runtime, user, who)
    return who


@contextmanager
def scoped(runtime: Runtime, who: Person) -> Iterator[tuple[Session, AdminScope]]:
    with runtime.db() as db:
        user = db.get(User, who.id)
        assert user is not None
        scope = admin_scope.scope_of(db, user)
        assert scope is not None, f"{who.login} administers nothing"
        yield db, scope


def load(db: Session, who: Person) -> User:
    user = db.get(User, who.id)
    assert user is not None
    return user


def org(db: Session, slug: str) -> Organization:
    return organizations.get_organization(db, slug)


def count(runtime: Runtime, model: type, who: Person) -> int:
    with runtime.db() as db:
        column = model.user_id  # type: ignore[attr-defined]
        return int(db.scalar(select(func.count()).where(column == who.id)) or 0)


def start_session(runtime: Runtime, who: Person) -> str:
    with runtime.db() as db:
        return signin.sign_in_with_password(
            db, runtime, login=who.login, password=who.password, client=CLIENT
        ).token


def reset(runtime: Runtime, by: Person, target: Person, reason: str = "lost phone") -> str:
    with scoped(runtime, by) as (db, scope):
        return member_actions.reset_two_factor(
            db, runtime, scope, load(db, target), reason=reason, client=CLIENT
        )


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


@pytest.fixture
def acme(runtime: Runtime) -> int:
    return make_org(runtime, "acme")


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock, acme: int) -> Person:
    """Acme's administrator (with 2FA, as admins must)."""
    who = person(runtime, "boss", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    return who


@pytest.fixture
def bob(runtime: Runtime, clock: FixedClock, acme: int) -> Person:
    """A member of Acme only, with 2FA on."""
    who = person(runtime, "bob", with_totp=True)
    clock.advance(30)
    return who


# --- scope ---------------------------------------------------------------------------------


def test_a_plain_member_has_no_admin_scope(runtime: Runtime, bob: Person) -> None:
    with runtime.db() as db:
        assert admin_scope.scope_of(db, load(db, bob)) is None


def test_an_org_admin_administers_only_their_organizations(
    runtime: Runtime, boss: Person, acme: int
) -> None:
    make_org(runtime, "bank")
    with scoped(runtime, boss) as (db, scope):
        assert not scope.superadmin
        assert scope.organization_ids == {acme}
        assert [o.slug for o in admin_scope.administered_organizations(db, scope)] == ["acme"]


def test_a_superadmin_administers_every_organization(runtime: Runtime, acme: int) -> None:
    make_org(runtime, "bank")
    root = person(runtime, "root", "default", superadmin=True)
    with scoped(runtime, root) as (db, scope):
        slugs = [o.slug for o in admin_scope.administered_organizations(db, scope)]
    assert sorted(slugs) == ["acme", "bank", "default"]


def test_an_admin_may_manage_a_member_of_only_their_organization(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    with scoped(runtime, boss) as (db, scope):
        assert admin_scope.may_manage(db, scope, load(db, bob))


def test_an_admin_may_not_manage_a_member_who_is_also_in_another_organization(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, bob))


def test_an_admin_may_not_manage_a_superadmin_in_their_organization(
    runtime: Runtime, boss: Person
) -> None:
    root = person(runtime, "root", superadmin=True)
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, root))


def test_an_admin_may_not_manage_themselves(runtime: Runtime, boss: Person) -> None:
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, boss))


@pytest.fixture
def ada(runtime: Runtime, clock: FixedClock, acme: int) -> Person:
    """A second administrator of Acme (with 2FA), locked out of her second factor."""
    who = person(runtime, "ada", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    with runtime.db() as db:
        load(db, who).failed_code_count = PERMANENT_LOCK_AT
        db.commit()
    return who


def root_of(runtime: Runtime) -> Person:
    return person(runtime, "root", "default", superadmin=True)


def unlock(runtime: Runtime, by: Person, target: Person) -> None:
    with scoped(runtime, by) as (db, scope):
        member_actions.unlock(db, runtime, scope, load(db, target), CLIENT)


def remove(runtime: Runtime, by: Person, target: Person, slug: str = "acme") -> None:
    with scoped(runtime, by) as (db, scope):
        member_actions.remove_from_organization(
            db, runtime, scope, load(db, target), org(db, slug), CLIENT
        )


ACTIONS = {"reset_2fa": reset, "unlock": unlock, "remove": remove}


def test_an_admin_may_not_manage_a_fellow_admin_of_their_organization(
    runtime: Runtime, boss: Person, ada: Person
) -> None:
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, ada))
        assert translate(admin_scope.refusal(db, scope, load(db, ada)) or "") == (
            "This person is an administrator: only a super-admin can reset, unlock or remove "
            "an administrator. Ask a super-admin."
        )


def test_an_admin_may_not_manage_someone_who_administers_another_organization(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, bob, "bank", Role.ADMIN)
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, bob))


def test_an_admin_of_two_organizations_may_not_manage_an_admin_of_either(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, boss, "bank", Role.ADMIN)
    join(runtime, bob, "bank", Role.ADMIN)
    with scoped(runtime, boss) as (db, scope):
        assert not admin_scope.may_manage(db, scope, load(db, bob))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_org_admin_acting_on_a_fellow_admin_is_refused_and_changes_nothing(
    steps, runtime: Runtime, boss: Person, ada: Person, action: str
) -> None:
    start_session(runtime, ada)
    before = snapshot(runtime, skip=("audit_events",))
    events_before = len(steps.events())
    with pytest.raises(Forbidden) as refused:
        ACTIONS[action](runtime, boss, ada)
    assert "only a super-admin can reset, unlock or remove an administrator" in (
        refused.value.detail
    )
    assert snapshot(runtime, skip=("audit_events",)) == before  # no email queued, nothing
    [event] = steps.events()[events_before:]  # only the refusal is recorded
    assert event.event == AuditEventType.ADMIN_ACTION_REFUSED.value
    assert (event.user_id, event.actor_id) == (ada.id, boss.id)
    assert steps.detail(event) == {"action": action}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_superadmin_may_act_on_an_admin(
    steps, runtime: Runtime, ada: Person, action: str
) -> None:
    root = root_of(runtime)
    ACTIONS[action](runtime, root, ada)
    assert steps.events(AuditEventType.ADMIN_ACTION_REFUSED) == []
    with runtime.db() as db:
        user = load(db, ada)
        done = {
            "reset_2fa": not users.has_two_factor(db, ada.id),
            "unlock": user.failed_code_count == 0,
            "remove": not user.memberships,
        }
    assert done[action]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_org_admin_may_act_on_a_member(
    steps, runtime: Runtime, boss: Person, bob: Person, action: str
) -> None:
    with runtime.db() as db:
        load(db, bob).failed_code_count = PERMANENT_LOCK_AT
        db.commit()
    ACTIONS[action](runtime, boss, bob)
    assert steps.events(AuditEventType.ADMIN_ACTION_REFUSED) == []
    with runtime.db() as db:
        user = load(db, bob)
        done = {
            "reset_2fa": not users.has_two_factor(db, bob.id),
            "unlock": user.failed_code_count == 0,
            "remove": not user.memberships,
        }
    assert done[action]


def test_removing_a_member_ends_their_sessions(runtime: Runtime, boss: Person, bob: Person) -> None:
    start_session(runtime, bob)
    remove(runtime, boss, bob)
    assert count(runtime, AuthSession, bob) == 0


def test_a_superadmin_may_manage_a_member_of_any_organization(
    runtime: Runtime, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    root = person(runtime, "root", "default", superadmin=True)
    with scoped(runtime, root) as (db, scope):
        assert admin_scope.may_manage(db, scope, load(db, bob))


def test_acting_on_another_organizations_member_is_refused_and_recorded(
    steps, runtime: Runtime, boss: Person
) -> None:
    make_org(runtime, "bank")
    eve = person(runtime, "eve", "bank")
    with scoped(runtime, boss) as (db, scope), pytest.raises(Forbidden):
        admin_scope.managed_member(db, runtime, scope, eve.id, "reset_2fa", CLIENT)
    [event] = steps.events(AuditEventType.ADMIN_ACTION_REFUSED)
    assert (event.user_id, event.actor_id) == (eve.id, boss.id)
    assert steps.detail(event) == {"action": "reset_2fa"}
    assert event.ip == CLIENT.ip


def test_a_forged_member_id_is_refused_and_recorded(steps, runtime: Runtime, boss: Person) -> None:
    with scoped(runtime, boss) as (db, scope), pytest.raises(Forbidden) as refused:
        admin_scope.managed_member(db, runtime, scope, 987654, "unlock", CLIENT)
    assert "no such member" in refused.value.detail
    [event] = steps.events(AuditEventType.ADMIN_ACTION_REFUSED)
    assert (event.user_id, event.actor_id) == (None, boss.id)


# --- members table -------------------------------------------------------------------------


def fill(runtime: Runtime, how_many: int, slug: str = "acme") -> list[Person]:
    return [person(runtime, f"user{i:03d}", slug) for i in range(how_many)]


def listing(runtime: Runtime, slug: str = "acme", **options: object) -> members.MemberPage:
    with runtime.db() as db:
        return members.list_members(db, runtime, org(db, slug), **options)  # type: ignore[arg-type]


def test_the_members_table_lists_only_the_organizations_members(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    person(runtime, "eve", "bank")
    result = listing(runtime)
    assert [row.login for row in result.rows] == ["bob", "boss"]
    assert result.total == 2


def test_the_members_table_row_says_role_2fa_codes_and_last_sign_in(
    runtime: Runtime, boss: Person, bob: Person, clock: FixedClock
) -> None:
    start_session(runtime, person(runtime, "carol"))
    rows = {row.login: row for row in listing(runtime).rows}
    assert (rows["boss"].role, rows["bob"].role) == ("admin", "member")
    assert rows["bob"].two_factor
    assert rows["bob"].recovery_codes_left == 10
    assert not rows["carol"].two_factor
    assert rows["carol"].recovery_codes_left == 0
    assert rows["carol"].last_sign_in_at == clock.now()
    assert rows["bob"].last_sign_in_at is None
    assert not any(row.locked or row.reset_pending for row in rows.values())


def test_search_matches_login_or_email(runtime: Runtime, acme: int) -> None:
    person(runtime, "alice")
    person(runtime, "bob", email="robert@corp.example")
    assert [r.login for r in listing(runtime, search="ALI").rows] == ["alice"]
    assert [r.login for r in listing(runtime, search="corp.exa").rows] == ["bob"]
    assert listing(runtime, search="nobody").total == 0


def test_search_wildcards_are_taken_literally(runtime: Runtime, acme: int) -> None:
    person(runtime, "alice")
    assert listing(runtime, search="%").total == 1  # the % is dropped: an empty search
    assert listing(runtime, search="a_i").total == 0


def test_status_filter_enabled_and_not_enabled(runtime: Runtime, bob: Person) -> None:
    person(runtime, "carol")
    assert [r.login for r in listing(runtime, status="enabled").rows] == ["bob"]
    assert [r.login for r in listing(runtime, status="not_enabled").rows] == ["carol"]


def test_status_filter_locked_finds_temporary_and_permanent_locks(
    runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    carol = person(runtime, "carol")
    person(runtime, "dave")
    with runtime.db() as db:
        load(db, bob).code_locked_until = clock.now() + timedelta(minutes=15)
        load(db, carol).failed_code_count = PERMANENT_LOCK_AT
        db.commit()
    locked = listing(runtime, status="locked")
    assert [r.login for r in locked.rows] == ["bob", "carol"]
    assert all(r.locked for r in locked.rows)
    clock.advance(16 * 60)
    assert [r.login for r in listing(runtime, status="locked").rows] == ["carol"]


def test_an_unknown_status_or_sort_is_refused(runtime: Runtime, acme: int) -> None:
    with pytest.raises(InvalidInput):
        listing(runtime, status="everyone")
    with pytest.raises(InvalidInput):
        listing(runtime, sort="password_hash")


def test_sorting_by_email_descending(runtime: Runtime, acme: int) -> None:
    person(runtime, "aa", email="zed@example.org")
    person(runtime, "bb", email="amy@example.org")
    person(runtime, "cc", email="kim@example.org")
    rows = listing(runtime, sort="email", descending=True).rows
    assert [r.email for r in rows] == ["zed@example.org", "kim@example.org", "amy@example.org"]


def test_sorting_by_2fa_puts_members_without_it_first(runtime: Runtime, bob: Person) -> None:
    person(runtime, "anne")
    person(runtime, "zoe")
    assert [r.login for r in listing(runtime, sort="two_factor").rows] == ["anne", "zoe", "bob"]
    rows = listing(runtime, sort="two_factor", descending=True).rows
    assert [r.login for r in rows] == ["bob", "anne", "zoe"]


def test_sorting_by_role(runtime: Runtime, boss: Person, bob: Person) -> None:
    assert [r.login for r in listing(runtime, sort="role").rows] == ["boss", "bob"]


def test_pagination_counts_pages_and_slices(runtime: Runtime, acme: int) -> None:
    fill(runtime, 7)
    first = listing(runtime, per_page=3)
    assert (first.total, first.pages, first.page) == (7, 3, 1)
    assert [r.login for r in first.rows] == ["user000", "user001", "user002"]
    last = listing(runtime, per_page=3, page=3)
    assert [r.login for r in last.rows] == ["user006"]


def test_a_page_out_of_range_is_clamped(runtime: Runtime, acme: int) -> None:
    fill(runtime, 4)
    beyond = listing(runtime, per_page=3, page=99)
    assert beyond.page == 2
    assert [r.login for r in beyond.rows] == ["user003"]
    before = listing(runtime, per_page=3, page=-5)
    assert before.page == 1


def test_an_empty_organization_has_one_empty_page(runtime: Runtime, acme: int) -> None:
    result = listing(runtime)
    assert (result.total, result.pages, result.page, result.rows) == (0, 1, 1, [])


def test_adoption_counts_members_with_2fa(runtime: Runtime, boss: Person, bob: Person) -> None:
    person(runtime, "carol")
    person(runtime, "dave")
    with runtime.db() as db:
        numbers = members.adoption(db, org(db, "acme"))
    assert (numbers.members, numbers.with_two_factor, numbers.percent) == (4, 2, 50)


def test_adoption_of_an_empty_organization_is_zero(runtime: Runtime, acme: int) -> None:
    with runtime.db() as db:
        assert members.adoption(db, org(db, "acme")).percent == 0


# --- reset ---------------------------------------------------------------------------------


def test_a_reset_deletes_the_authenticator_and_the_recovery_codes(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob)
    assert count(runtime, Authenticator, bob) == 0
    assert count(runtime, RecoveryCode, bob) == 0
    with runtime.db() as db:
        assert not users.has_two_factor(db, bob.id)
        assert load(db, bob).two_factor_reset_at is not None


def test_a_reset_ends_every_session_of_the_member(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    token = start_session(runtime, bob)
    start_session(runtime, bob)
    reset(runtime, boss, bob)
    assert count(runtime, AuthSession, bob) == 0
    with runtime.db() as db:
        assert sessions.find_session(db, runtime, token) is None


def test_a_reset_leaves_the_admins_own_session_alone(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    start_session(runtime, boss)
    reset(runtime, boss, bob)
    assert count(runtime, AuthSession, boss) == 1


def test_a_reset_is_recorded_with_the_admin_the_reason_and_the_member(
    steps, runtime: Runtime, boss: Person, bob: Person
) -> None:
    start_session(runtime, bob)
    reset(runtime, boss, bob, reason="  lost phone on the train  ")
    [event] = steps.events(AuditEventType.TWO_FACTOR_RESET_BY_ADMIN)
    assert (event.user_id, event.actor_id) == (bob.id, boss.id)
    assert steps.detail(event) == {"reason": "lost phone on the train", "sessions_ended": 1}
    assert event.ip == CLIENT.ip


def test_a_reset_clears_a_lock(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    with runtime.db() as db:
        load(db, bob).failed_code_count = PERMANENT_LOCK_AT
        db.commit()
    reset(runtime, boss, bob)
    with runtime.db() as db:
        assert load(db, bob).failed_code_count == 0


def test_a_reset_emails_the_member_a_reenroll_link(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    link = reset(runtime, boss, bob)
    messages = [m for m in delivered(runtime) if "again" in str(m["Subject"])]
    assert len(messages) == 1
    [message] = messages
    assert message["To"] == "bob@example.org"
    body = text_body(message)
    assert LINK.findall(body) == [link]
    assert "An administrator reset two-factor authentication for your account bob" in body
    assert "It works once, for 24 hours." in body


def test_a_reset_without_a_reason_changes_nothing(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        reset(runtime, boss, bob, reason="   ")
    assert refused.value.field == "reason"
    assert snapshot(runtime) == before


def test_a_reason_over_500_characters_is_refused(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput):
        reset(runtime, boss, bob, reason="x" * 501)
    assert snapshot(runtime) == before


def test_a_member_without_a_confirmed_address_cannot_be_reset_by_email(
    runtime: Runtime, boss: Person, clock: FixedClock
) -> None:
    dave = person(runtime, "dave", email=None, with_totp=True)
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        reset(runtime, boss, dave)
    assert "--print-link" in refused.value.detail
    assert snapshot(runtime) == before


def test_resetting_someone_without_2fa_is_refused_and_changes_nothing(
    steps, runtime: Runtime, boss: Person
) -> None:
    carol = person(runtime, "carol")
    start_session(runtime, carol)
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        reset(runtime, boss, carol)
    assert refused.value.detail == (
        "carol has not set up two-factor authentication, so there is nothing to reset: they "
        "sign in with their password alone. Nothing was changed."
    )
    assert snapshot(runtime) == before  # still signed in, no link, no email, no event


def test_an_operator_cannot_reset_someone_without_2fa_either(runtime: Runtime) -> None:
    carol = person(runtime, "carol", "default")
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput):
        member_actions.reset_two_factor(
            db,
            runtime,
            admin_scope.OPERATOR,
            load(db, carol),
            reason="x",
            client=None,
            send_email=False,
        )
    assert snapshot(runtime) == before


def test_someone_who_only_began_enrolling_has_nothing_to_reset(
    runtime: Runtime, boss: Person
) -> None:
    carol = person(runtime, "carol")
    with runtime.db() as db:
        account.begin_totp_enrollment(db, runtime, load(db, carol))
    with pytest.raises(InvalidInput):
        reset(runtime, boss, carol)


def test_a_reset_still_waiting_can_be_sent_again_with_a_new_link(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    """The member lost the email or let the link expire: a new reset is their way back."""
    first = reset(runtime, boss, bob)
    clock.advance(25 * 3600)
    second = reset(runtime, boss, bob, reason="the link expired")
    assert second != first
    reenroll(runtime, clock, bob, token_of(second))
    with runtime.db() as db:
        assert users.has_two_factor(db, bob.id)


def test_an_operator_reset_can_hand_over_the_link_instead_of_emailing_it(
    runtime: Runtime, bob: Person
) -> None:
    with runtime.db() as db:
        link = member_actions.reset_two_factor(
            db,
            runtime,
            admin_scope.OPERATOR,
            load(db, bob),
            reason="desk",
            client=None,
            send_email=False,
        )
        queued = db.scalar(
            select(func.count(OutgoingEmail.id)).where(OutgoingEmail.kind == "two_factor_reset")
        )
    assert "/reenroll/" in link
    assert queued == 0


# --- after a reset: the stolen-password case ------------------------------------------------


def test_after_a_reset_the_member_must_enroll_before_anything_else(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob)
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db, runtime, login=bob.login, password=bob.password, client=CLIENT
        )
        assert not started.needs_second_factor
        access = organizations.standing(db, runtime, load(db, bob), started.session).access
    assert access.demand is Demand.ENROLL


def test_after_a_reset_the_password_alone_cannot_begin_enrollment(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob)
    with runtime.db() as db, pytest.raises(ReenrollmentLinkRequired):
        account.begin_totp_enrollment(db, runtime, load(db, bob))
    assert count(runtime, Authenticator, bob) == 0


def test_after_a_reset_the_password_alone_cannot_confirm_an_enrollment_begun_by_the_link(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob)
    with runtime.db() as db:
        pending = account.begin_totp_enrollment(db, runtime, load(db, bob), via_reset_link=True)
    code = pyotp.TOTP(pending.secret_b32).at(unix_time(clock.now()))
    with runtime.db() as db, pytest.raises(ReenrollmentLinkRequired):
        account.confirm_totp_enrollment(db, runtime, load(db, bob), code, CLIENT)
    with runtime.db() as db:
        assert not users.has_two_factor(db, bob.id)


def reenroll(
    runtime: Runtime, clock: FixedClock, who: Person, token: str, *, code: str | None = None
) -> list[str]:
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db, runtime, login=who.login, password=who.password, client=CLIENT
        )
    with runtime.db() as db:
        user = load(db, who)
        pending = account.begin_totp_enrollment(db, runtime, user, via_reset_link=True)
        who.secret = pyotp.TOTP(pending.secret_b32).byte_secret()
        session = db.get(AuthSession, started.session.id)
        assert session is not None
        typed = code or pyotp.TOTP(pending.secret_b32).at(unix_time(clock.now()))
        codes, _token = reenrollment.complete(db, runtime, user, session, token, typed, CLIENT)
        return codes


def test_the_reenroll_link_sets_up_2fa_again_and_clears_the_reset(
    steps, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    token = token_of(reset(runtime, boss, bob))
    codes = reenroll(runtime, clock, bob, token)
    assert len(codes) == 10
    with runtime.db() as db:
        assert users.has_two_factor(db, bob.id)
        assert load(db, bob).two_factor_reset_at is None
    [event] = steps.events(AuditEventType.TWO_FACTOR_REENROLLED)
    assert event.user_id == bob.id


def test_the_reenroll_link_works_once(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    token = token_of(reset(runtime, boss, bob))
    reenroll(runtime, clock, bob, token)
    clock.advance(30)
    with runtime.db() as db, pytest.raises(InvalidToken):
        reenrollment.complete(
            db, runtime, load(db, bob), AuthSession(), token, bob.totp(clock), CLIENT
        )


def test_a_wrong_code_leaves_the_reenroll_link_usable(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    token = token_of(reset(runtime, boss, bob))
    with pytest.raises(InvalidCode):
        reenroll(runtime, clock, bob, token, code="000000")
    assert len(reenroll(runtime, clock, bob, token)) == 10


def test_the_reenroll_link_expires_after_24_hours(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    token = token_of(reset(runtime, boss, bob))
    clock.advance(24 * 3600)
    with pytest.raises(InvalidToken):
        reenroll(runtime, clock, bob, token)


def test_a_second_reset_makes_the_first_link_stop_working(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    first = token_of(reset(runtime, boss, bob))
    second = token_of(reset(runtime, boss, bob, reason="sent to an old address"))
    with pytest.raises(InvalidToken):
        reenroll(runtime, clock, bob, first)
    assert len(reenroll(runtime, clock, bob, second)) == 10


def test_a_forged_reenroll_token_is_refused(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob)
    with pytest.raises(InvalidToken):
        reenroll(runtime, clock, bob, "forged-token")


# --- unlock and deactivation ---------------------------------------------------------------


def test_unlocking_clears_the_lock_and_records_the_admin(
    steps, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    with runtime.db() as db:
        user = load(db, bob)
        user.failed_code_count = 10
        user.code_locked_until = clock.now() + timedelta(minutes=15)
        db.commit()
    with scoped(runtime, boss) as (db, scope):
        users.unlock(db, runtime, load(db, bob), actor_id=scope.actor_id)
        db.commit()
    with runtime.db() as db:
        user = load(db, bob)
        assert (user.failed_code_count, user.code_locked_until) == (0, None)
    [event] = steps.events(AuditEventType.SECOND_FACTOR_UNLOCKED)
    assert (event.user_id, event.actor_id) == (bob.id, boss.id)


def test_an_org_admin_cannot_deactivate_and_the_refusal_is_recorded(
    steps, runtime: Runtime, boss: Person, bob: Person
) -> None:
    with scoped(runtime, boss) as (db, scope), pytest.raises(Forbidden):
        member_actions.deactivate(db, runtime, scope, load(db, bob), CLIENT)
    with runtime.db() as db:
        assert load(db, bob).is_active
    [event] = steps.events(AuditEventType.ADMIN_ACTION_REFUSED)
    assert steps.detail(event) == {"action": "deactivate"}


def test_a_superadmin_deactivation_ends_every_session_and_is_recorded(
    steps, runtime: Runtime, bob: Person
) -> None:
    root = person(runtime, "root", "default", superadmin=True)
    start_session(runtime, bob)
    start_session(runtime, bob)
    with scoped(runtime, root) as (db, scope):
        member_actions.deactivate(db, runtime, scope, load(db, bob), CLIENT)
    assert count(runtime, AuthSession, bob) == 0
    [event] = steps.events(AuditEventType.USER_DEACTIVATED)
    assert (event.user_id, event.actor_id) == (bob.id, root.id)
    assert steps.detail(event) == {"sessions_ended": 2}


def test_a_deactivated_user_cannot_sign_in(runtime: Runtime, bob: Person) -> None:
    with runtime.db() as db:
        member_actions.deactivate(db, runtime, admin_scope.OPERATOR, load(db, bob), None)
    with runtime.db() as db, pytest.raises(InvalidCredentials):
        signin.sign_in_with_password(
            db, runtime, login=bob.login, password=bob.password, client=CLIENT
        )


# --- audit log -----------------------------------------------------------------------------


def audit_rows(runtime: Runtime, by: Person, slug: str = "acme", **filters: object) -> list:
    with scoped(runtime, by) as (db, scope):
        rows, total = audit_log.audit_page(db, scope, org(db, slug), AuditFilter(**filters))  # type: ignore[arg-type]
        assert total == len(rows)
        return [(row.event, row.user_id) for row in rows]


def test_the_audit_log_filters_by_member(runtime: Runtime, boss: Person, bob: Person) -> None:
    carol = person(runtime, "carol")
    start_session(runtime, carol)
    rows = audit_rows(runtime, boss, member="Carol")
    assert rows
    assert all(user_id == carol.id for _event, user_id in rows)


def test_the_audit_log_filter_for_an_unknown_member_finds_nothing(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    assert audit_rows(runtime, boss, member="nobody") == []


def test_the_audit_log_filters_by_event_type(runtime: Runtime, boss: Person, bob: Person) -> None:
    start_session(runtime, person(runtime, "carol"))
    rows = audit_rows(runtime, boss, event=AuditEventType.SIGN_IN_SUCCEEDED.value)
    assert [event for event, _user in rows] == ["sign_in.succeeded"]


def test_the_audit_log_filters_by_date_range(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    carol = person(runtime, "carol")
    clock.advance(2 * 24 * 3600)
    start_session(runtime, carol)
    day = clock.now().replace(hour=0, minute=0, second=0)
    later = audit_rows(runtime, boss, since=day)
    assert later == [("sign_in.succeeded", carol.id)]
    earlier = audit_rows(runtime, boss, until=day)
    assert ("sign_in.succeeded", carol.id) not in earlier
    assert ("user.created", carol.id) in earlier


def test_an_org_admins_log_holds_only_their_organizations_members(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    eve = person(runtime, "eve", "bank")
    start_session(runtime, eve)
    rows = audit_rows(runtime, boss)
    assert rows
    assert all(user_id != eve.id for _event, user_id in rows)
    assert audit_rows(runtime, boss, member="eve") == []


def read_csv(runtime: Runtime, by: Person, **filters: object) -> list[list[str]]:
    with scoped(runtime, by) as (db, scope):
        chunks = audit_log.audit_export(db, runtime, scope, org(db, "acme"), AuditFilter(**filters))  # type: ignore[arg-type]
        body = "".join(chunks)
    return list(csv.reader(io.StringIO(body)))


def test_the_csv_export_has_a_header_and_the_filtered_rows(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    reset(runtime, boss, bob, reason="lost phone")
    [header, *rows] = read_csv(runtime, boss, event="two_factor.reset_by_admin")
    assert header == ["time_utc", "event", "member", "actor", "ip", "user_agent", "detail"]
    assert len(rows) == 1
    assert rows[0][1:5] == ["two_factor.reset_by_admin", "bob", "boss", CLIENT.ip]
    assert '"reason": "lost phone"' in rows[0][6]


def test_the_csv_export_neutralises_formulas(runtime: Runtime, boss: Person) -> None:
    carol = person(runtime, "carol")
    with runtime.db() as db:
        signin.sign_in_with_password(
            db,
            runtime,
            login=carol.login,
            password=carol.password,
            client=ClientInfo(ip="192.0.2.1", user_agent='=HYPERLINK("http://evil.example")'),
        )
    [_header, *rows] = read_csv(runtime, boss, event="sign_in.succeeded")
    assert [row[5] for row in rows] == ['\'=HYPERLINK("http://evil.example")']


# --- audit log: visibility across organizations and the streamed export --------------------


@pytest.fixture
def shared(runtime: Runtime, boss: Person, bob: Person) -> Person:
    """bob, a member of Acme, is also added to and removed from Bank — whose events are Bank's
    alone; his own events (account, 2FA) both organizations may see."""
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    with runtime.db() as db:
        organizations.remove_member(db, runtime, load(db, bob), org(db, "bank"))
        db.commit()
    join(runtime, bob, "bank")
    return bob


def bank_events(runtime: Runtime, about: Person) -> set[int]:
    """Bank's events about `about`."""
    with runtime.db() as db:
        bank = org(db, "bank").id
        return set(
            db.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.organization_id == bank, AuditEvent.user_id == about.id
                )
            )
        )


def visible_ids(runtime: Runtime, by: Person, slug: str = "acme", **filters: object) -> set[int]:
    with scoped(runtime, by) as (db, scope):
        rows, _total = audit_log.audit_page(db, scope, org(db, slug), AuditFilter(**filters))  # type: ignore[arg-type]
        return {row.id for row in rows}


def test_an_org_admin_sees_none_of_another_organizations_events_about_a_shared_member(
    runtime: Runtime, boss: Person, shared: Person
) -> None:
    assert len(bank_events(runtime, shared)) == 3  # added, removed, added
    assert not visible_ids(runtime, boss) & bank_events(runtime, shared)
    assert not visible_ids(runtime, boss, member="bob") & bank_events(runtime, shared)
    rows = audit_rows(runtime, boss, member="bob")
    # created in Acme (Acme's event), 2FA turned on (his own event): still shown
    assert sorted(rows) == [("two_factor.enabled", shared.id), ("user.created", shared.id)]
    [_header, *body] = read_csv(runtime, boss)
    assert {row[1] for row in body if row[2] == "bob"} == {"user.created", "two_factor.enabled"}
    assert not {"membership.added", "membership.removed"} & {row[1] for row in body}
    assert all('"bank"' not in row[6] for row in body)


def test_a_superadmin_sees_every_event_of_a_shared_member(runtime: Runtime, shared: Person) -> None:
    root = root_of(runtime)
    assert bank_events(runtime, shared) <= visible_ids(runtime, root)
    rows = audit_rows(runtime, root, member="bob")
    assert rows.count(("membership.added", shared.id)) == 2  # Bank's, twice
    assert ("membership.removed", shared.id) in rows
    [_header, *body] = read_csv(runtime, root, member="bob")
    assert [row[1] for row in body].count("membership.added") == 2


def test_an_admin_of_both_organizations_sees_both_organizations_events(
    runtime: Runtime, boss: Person, shared: Person
) -> None:
    join(runtime, boss, "bank", Role.ADMIN)
    assert bank_events(runtime, shared) <= visible_ids(runtime, boss)


def test_reading_another_organizations_log_is_refused(runtime: Runtime, boss: Person) -> None:
    make_org(runtime, "bank")
    with scoped(runtime, boss) as (db, scope), pytest.raises(Forbidden):
        audit_log.audit_page(db, scope, org(db, "bank"), AuditFilter())
    with scoped(runtime, boss) as (db, scope), pytest.raises(Forbidden):
        audit_log.audit_export(db, runtime, scope, org(db, "bank"), AuditFilter())


def test_the_export_reads_in_batches_and_loses_no_row_at_their_edges(
    runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    carol = person(runtime, "carol")
    for _ in range(3):  # same-second events: the batches must continue on the id
        start_session(runtime, carol)
    clock.advance(1)
    for _ in range(3):
        start_session(runtime, carol)
    with scoped(runtime, boss) as (db, scope):
        rows, total = audit_log.audit_page(db, scope, org(db, "acme"), AuditFilter())
        expected = [(row.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), row.event) for row in rows]
        chunks = list(
            audit_log.audit_export(db, runtime, scope, org(db, "acme"), AuditFilter(), batch_size=2)
        )
    assert total > 6
    assert len(chunks) == 1 + -(-total // 2)  # the header, then one chunk per batch
    [_header, *body] = list(csv.reader(io.StringIO("".join(chunks))))
    assert [(row[0], row[1]) for row in body] == expected


def test_the_export_leaves_no_transaction_open_while_it_streams(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    """A download in progress must not hold SQLite's write lock (nor a PostgreSQL snapshot)."""
    with scoped(runtime, boss) as (db, scope):
        chunks = audit_log.audit_export(
            db, runtime, scope, org(db, "acme"), AuditFilter(), batch_size=1
        )
        next(chunks)
        next(chunks)  # halfway through the download
        start_session(runtime, bob)  # a write goes through meanwhile
        rest = list(chunks)
    assert rest


def test_the_page_looks_up_only_the_logins_on_the_page(
    runtime: Runtime, boss: Person, bob: Person
) -> None:
    carol = person(runtime, "carol")
    reset(runtime, boss, bob)
    with scoped(runtime, boss) as (db, scope):
        rows, _total = audit_log.audit_page(
            db, scope, org(db, "acme"), AuditFilter(event="two_factor.reset_by_admin")
        )
        assert audit_log.logins_of(db, rows) == {bob.id: "bob", boss.id: "boss"}
        assert carol.id not in audit_log.logins_of(db, rows)
        assert audit_log.logins_of(db, []) == {}


# --- a reset removes the phone too -----------------------------------------------------------


PHONE = "+447400123456"


def test_a_reset_removes_every_method_the_phone_its_codes_and_the_number(
    runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    texts = allow_sms(runtime, "acme")
    carol = person(runtime, "carol", with_totp=True)
    clock.advance(30)
    with runtime.db() as db:
        user = load(db, carol)
        sms.begin_phone(
            db,
            runtime,
            user,
            phone=PHONE,
            current=organizations.membership_views(db, user)[0],
            client=CLIENT,
            password=carol.password,
            code=carol.totp(clock),
        )
        sms.confirm_phone(db, runtime, user, texts.last_code(PHONE), CLIENT)
    clock.advance(60)
    with runtime.db() as db:  # a sign-in waiting for its texted code
        session = sessions.find_session(db, runtime, start_session(runtime, carol))
        assert session is not None
        second_factor.send_sign_in_code(db, runtime, session, CLIENT)
    with runtime.db() as db:
        kinds = sorted(
            db.scalars(select(Authenticator.kind).where(Authenticator.user_id == carol.id))
        )
        assert kinds == ["sms", "totp"]
        sealed = db.scalar(
            select(Authenticator.secret_sealed).where(
                Authenticator.user_id == carol.id, Authenticator.kind == "sms"
            )
        )
        assert sealed is not None
    assert count(runtime, SmsChallenge, carol) == 2  # the enrollment's and the sign-in's
    assert columns_holding(runtime, sealed, PHONE) == ["authenticators.secret_sealed"]

    reset(runtime, boss, carol)

    assert count(runtime, Authenticator, carol) == 0
    assert count(runtime, SmsChallenge, carol) == 0
    assert count(runtime, RecoveryCode, carol) == 0
    with runtime.db() as db:
        assert not users.has_two_factor(db, carol.id)
    assert columns_holding(runtime, sealed, PHONE) == []
