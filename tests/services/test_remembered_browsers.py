"""Remember this browser (decision 0028), service by service, on SQLite and PostgreSQL:
remembered after a second factor where the entered organization offers it, standing in for
the code at the next password sign-in (the organization's own policy only, amr still pwd),
rotated at each use, refused when old, expired, replayed or where the organization lowered
N or set 0, and forgotten on every event that ends what the person signed in to before."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from services.conftest import Steps
from support import Person, add_authenticator, join, make_org, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Demand, Role, TwoFactorPolicy
from twofold.core.sessions import SessionState
from twofold.otp.clock import FixedClock
from twofold.services import (
    account,
    activity,
    authenticators,
    housekeeping,
    member_actions,
    organizations,
    password_reset,
    remembered_browsers,
    sessions,
    signin,
    users,
)
from twofold.services.admin_scope import OPERATOR
from twofold.services.member_actions import second_factor_is_fresh
from twofold.services.password_reset import PURPOSE as RESET_PURPOSE
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuthSession, Membership, Organization, RememberedBrowser, User

NEW_PASSWORD = "a brand new and long passphrase 42"


def set_days(runtime: Runtime, days: int, slug: str = "default") -> None:
    """What `twofold org policy SLUG --remember-days N` stores (set directly here)."""
    with runtime.db() as db:
        db.execute(update(Organization).where(Organization.slug == slug).values(remember_days=days))
        db.commit()


def sign_in(steps: Steps, person: Person, cookie: str | None) -> signin.SignInStarted:
    with steps.runtime.db() as db:
        return signin.sign_in_with_password(
            db,
            steps.runtime,
            login=person.login,
            password=person.password,
            client=steps.client,
            remembered=cookie,
        )


def remember(steps: Steps, token: str, replacing: str | None = None) -> str | None:
    """The box ticked at the code prompt: the remember cookie's token, or None."""
    with steps.runtime.db() as db:
        session = sessions.find_session(db, steps.runtime, token)
        assert session is not None
        cookie = remembered_browsers.remember(
            db, steps.runtime, session, steps.client, replacing=replacing
        )
        return cookie.token if cookie else None


def remembered_sign_in(steps: Steps, person: Person) -> tuple[str, str]:
    """Password, code, box ticked: (the session token, the remember cookie)."""
    steps.clock.advance(30)
    token = steps.totp(steps.password_step(person), person.totp(steps.clock))
    cookie = remember(steps, token)
    assert cookie is not None
    return token, cookie


def rows(runtime: Runtime, person: Person) -> list[RememberedBrowser]:
    with runtime.db() as db:
        return list(
            db.scalars(select(RememberedBrowser).where(RememberedBrowser.user_id == person.id))
        )


def session_of(runtime: Runtime, token: str) -> AuthSession:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        return session


@pytest.fixture
def alice_remembers(runtime: Runtime, alice_with_totp: Person) -> Person:
    set_days(runtime, 7)
    return alice_with_totp


def test_a_remembered_browser_signs_in_without_the_code(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    steps.clock.advance(3600)
    started = sign_in(steps, alice_remembers, cookie)
    assert not started.needs_second_factor
    assert started.remembered is not None
    assert started.remembered.stood_in
    session = session_of(runtime, started.token)
    assert session.state == SessionState.AUTHENTICATED
    assert session.amr == "pwd"  # never a second factor
    assert session.second_factor_at is None
    assert sessions.verified_organizations(session) == {session.organization_id}
    used = steps.events(AuditEventType.REMEMBERED_BROWSER_USED)
    assert len(used) == 1
    assert used[0].user_id == alice_remembers.id
    signed_in = steps.events(AuditEventType.SIGN_IN_SUCCEEDED)[-1]
    assert steps.detail(signed_in) == {"amr": "pwd", "remembered_browser": True}


def test_creation_is_audited_and_stores_only_a_digest(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    [row] = rows(runtime, alice_remembers)
    assert cookie.encode() not in row.token_digest
    assert len(row.token_digest) == 32
    assert row.ip == steps.client.ip
    assert row.expires_at == row.remembered_at + timedelta(days=30)
    [added] = steps.events(AuditEventType.REMEMBERED_BROWSER_ADDED)
    assert steps.detail(added)["days"] == 7
    assert cookie not in added.detail


def test_each_use_rotates_the_cookie_and_the_old_one_is_refused(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, first = remembered_sign_in(steps, alice_remembers)
    used = sign_in(steps, alice_remembers, first)
    assert used.remembered is not None
    assert used.remembered.cookie is not None
    second = used.remembered.cookie.token
    assert second != first
    # A copy of the first cookie (stolen, replayed) gets nothing after the owner used it.
    replayed = sign_in(steps, alice_remembers, first)
    assert replayed.needs_second_factor
    assert replayed.remembered is not None
    assert not replayed.remembered.stood_in
    [refused] = steps.events(AuditEventType.REMEMBERED_BROWSER_REFUSED)
    assert steps.detail(refused)["reason"] == "unknown"
    # The owner's current cookie still works, and rotates again.
    again = sign_in(steps, alice_remembers, second)
    assert not again.needs_second_factor
    assert len(rows(runtime, alice_remembers)) == 1


def test_it_expires_after_the_organizations_days(
    steps: Steps, runtime: Runtime, alice_remembers: Person, clock: FixedClock
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    clock.advance(int(timedelta(days=6, hours=23).total_seconds()))
    used = sign_in(steps, alice_remembers, cookie)
    assert not used.needs_second_factor
    assert used.remembered is not None
    assert used.remembered.cookie is not None
    # Counted from the second factor it stands for: using it does not extend it.
    clock.advance(3600)
    late = sign_in(steps, alice_remembers, used.remembered.cookie.token)
    assert late.needs_second_factor
    assert late.remembered is not None
    assert late.remembered.refusal is not None
    assert late.remembered.refusal.value == "too_old"
    assert rows(runtime, alice_remembers) == []  # refused: forgotten, its cookie cleared


def test_never_past_thirty_days(
    steps: Steps, runtime: Runtime, alice_remembers: Person, clock: FixedClock
) -> None:
    set_days(runtime, 30)
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    set_days(runtime, 400)  # out of range for the policy page; the cap holds anyway
    clock.advance(int(timedelta(days=30).total_seconds()))
    late = sign_in(steps, alice_remembers, cookie)
    assert late.needs_second_factor
    assert late.remembered is not None
    assert late.remembered.refusal is not None
    assert late.remembered.refusal.value == "expired"


def test_lowering_n_below_its_age_refuses_it_at_once(
    steps: Steps, runtime: Runtime, alice_remembers: Person, clock: FixedClock
) -> None:
    set_days(runtime, 10)
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    clock.advance(int(timedelta(days=3).total_seconds()))
    set_days(runtime, 2)
    started = sign_in(steps, alice_remembers, cookie)
    assert started.needs_second_factor
    assert started.remembered is not None
    assert started.remembered.refusal is not None
    assert started.remembered.refusal.value == "too_old"


def test_refused_where_the_organization_sets_0(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    set_days(runtime, 0)
    started = sign_in(steps, alice_remembers, cookie)
    assert started.needs_second_factor
    assert started.remembered is not None
    assert started.remembered.refusal is not None
    assert started.remembered.refusal.value == "off"
    [refused] = steps.events(AuditEventType.REMEMBERED_BROWSER_REFUSED)
    assert steps.detail(refused)["reason"] == "off"


def test_not_remembered_where_the_organization_offers_nothing(
    steps: Steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    steps.clock.advance(30)
    token = steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(steps.clock))
    assert remember(steps, token) is None
    assert rows(runtime, alice_with_totp) == []


def test_not_remembered_without_a_fresh_second_factor(
    steps: Steps, runtime: Runtime, alice_remembers: Person, clock: FixedClock
) -> None:
    password_only = steps.password_step(alice_remembers)
    assert remember(steps, password_only) is None  # no second factor passed
    steps.clock.advance(30)
    token = steps.totp(steps.password_step(alice_remembers), alice_remembers.totp(clock))
    clock.advance(600)
    assert remember(steps, token) is None  # passed too long ago
    # A session a remembered browser made has no second factor to stand for either.
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    started = sign_in(steps, alice_remembers, cookie)
    assert remember(steps, started.token) is None


def test_ticking_the_box_again_replaces_this_browsers_cookie(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    steps.clock.advance(30)
    token = steps.totp(steps.password_step(alice_remembers), alice_remembers.totp(steps.clock))
    assert remember(steps, token, replacing=cookie) is not None
    assert len(rows(runtime, alice_remembers)) == 1


def test_another_persons_cookie_stands_in_for_nobody(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    bob = make_person(runtime, "bob", with_totp=True)
    started = sign_in(steps, bob, cookie)
    assert started.needs_second_factor
    assert len(rows(runtime, alice_remembers)) == 1  # alice's stays


def test_the_remembered_session_satisfies_only_the_entered_organizations_policy(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    """Switching organizations asks for the code as without it; an admin's re-verification
    (a reset) is never fresh; the amr gives no application a second factor."""
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    join(runtime, alice_remembers, "acme")
    set_days(runtime, 30, "acme")
    organizations_required = TwoFactorPolicy.REQUIRED
    with runtime.db() as db:
        default = db.scalar(select(Organization).where(Organization.slug == "default"))
        assert default is not None
        default.two_factor_policy = organizations_required.value
        db.commit()
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    started = sign_in(steps, alice_remembers, cookie)
    assert not started.needs_second_factor
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, started.token)
        user = db.get(User, alice_remembers.id)
        assert session is not None
        assert user is not None
        assert organizations.standing(db, runtime, user, session).access.demand is Demand.NONE
        assert not second_factor_is_fresh(session, runtime.now())
        organizations.switch_organization(db, runtime, session, user, "acme", steps.client)
        assert organizations.standing(db, runtime, user, session).access.demand is Demand.VERIFY


def test_the_organization_an_application_enters_decides(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    """N comes from the organization the sign-in enters, not from the person's first one."""
    acme = make_org(runtime, "acme", TwoFactorPolicy.OPTIONAL)
    join(runtime, alice_remembers, "acme")
    _token, cookie = remembered_sign_in(steps, alice_remembers)  # entered "default" (N=7)
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db,
            runtime,
            login=alice_remembers.login,
            password=alice_remembers.password,
            client=steps.client,
            organization_id=acme,  # N=0 there
            remembered=cookie,
        )
    assert started.needs_second_factor
    assert started.session.organization_id == acme


def test_a_phishing_resistant_organization_refuses_it(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    with runtime.db() as db:
        db.execute(
            update(Organization)
            .where(Organization.slug == "default")
            .values(phishing_resistant="all")
        )
        db.commit()
    try:
        started = sign_in(steps, alice_remembers, cookie)
    finally:
        with runtime.db() as db:
            db.execute(
                update(Organization)
                .where(Organization.slug == "default")
                .values(phishing_resistant="off")
            )
            db.commit()
    assert started.needs_second_factor
    assert started.remembered is not None
    assert started.remembered.refusal is not None
    assert started.remembered.refusal.value == "phishing_resistant"


# -- Forgotten on every event that ends what the person signed in to before -----------------


def change_password(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        account.change_password(
            db,
            runtime,
            user,
            current_password=person.password,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
            keep_session_id=None,
            client=steps.client,
        )


def reset_password(runtime: Runtime, person: Person, steps: Steps) -> None:
    from twofold.services import links

    with runtime.db() as db:
        token = links.issue(
            db, runtime, purpose=RESET_PURPOSE, user_id=person.id, lifetime=timedelta(hours=1)
        )
        db.commit()
    with runtime.db() as db:
        password_reset.complete_reset(
            db,
            runtime,
            token=token,
            new_password=NEW_PASSWORD,
            confirm_password=NEW_PASSWORD,
            client=steps.client,
        )


def admin_resets_two_factor(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        member_actions.reset_two_factor(
            db, runtime, OPERATOR, user, reason="lost phone", client=None, send_email=False
        )


def disable_two_factor(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        account.disable_two_factor(db, runtime, user, person.password, steps.client)


def remove_a_method(runtime: Runtime, person: Person, steps: Steps) -> None:
    add_authenticator(runtime, person, steps.clock, name="Work phone")
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        first = users.methods_of(db, user.id)[0].id
        assert authenticators.remove(db, runtime, user, first, person.password, steps.client)


def sign_out_everywhere(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        activity.end_other_sessions(db, runtime, user, 0, steps.client)


def organization_signs_everyone_out(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        organization = organizations.get_organization(db, "default")
        organizations.sign_out_members(db, runtime, organization)
        db.commit()


def admin_forgets(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        assert member_actions.forget_remembered_browsers(db, runtime, OPERATOR, user, None) == 1


def deactivated(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        member_actions.deactivate(db, runtime, OPERATOR, user, None)


def owner_forgets_all(runtime: Runtime, person: Person, steps: Steps) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        assert remembered_browsers.forget_all_own(db, runtime, user, steps.client) == 1


EVENTS: dict[str, Callable[[Runtime, Person, Steps], None]] = {
    "password change": change_password,
    "password reset": reset_password,
    "2FA reset by an admin": admin_resets_two_factor,
    "2FA turned off": disable_two_factor,
    "a method removed": remove_a_method,
    "sign out everywhere": sign_out_everywhere,
    "the organization signs everyone out": organization_signs_everyone_out,
    "an admin forgets them": admin_forgets,
    "the account deactivated": deactivated,
    "the owner forgets all": owner_forgets_all,
}


@pytest.mark.parametrize("event", list(EVENTS))
def test_forgotten_on(event: str, steps: Steps, runtime: Runtime, alice_remembers: Person) -> None:
    bob = make_person(runtime, "bob", with_totp=True)
    _token, _cookie = remembered_sign_in(steps, alice_remembers)
    if event != "the organization signs everyone out":
        remembered_sign_in(steps, bob)  # someone else's is kept
    EVENTS[event](runtime, alice_remembers, steps)
    assert rows(runtime, alice_remembers) == []
    forgotten = steps.events(AuditEventType.REMEMBERED_BROWSER_FORGOTTEN)
    assert forgotten
    assert steps.detail(forgotten[-1])["count"] >= 1
    if event != "the organization signs everyone out":
        assert len(rows(runtime, bob)) == 1


def test_forgotten_on_password_change_means_the_next_sign_in_asks_the_code(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    change_password(runtime, alice_remembers, steps)
    alice_remembers.password = NEW_PASSWORD
    started = sign_in(steps, alice_remembers, cookie)
    assert started.needs_second_factor


def test_the_owner_forgets_one_and_no_one_elses(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    from twofold.core.errors import NotFound

    bob = make_person(runtime, "bob", with_totp=True)
    remembered_sign_in(steps, alice_remembers)
    remembered_sign_in(steps, alice_remembers)
    remembered_sign_in(steps, bob)
    [bobs] = rows(runtime, bob)
    first = rows(runtime, alice_remembers)[0]
    with runtime.db() as db:
        alice = db.get(User, alice_remembers.id)
        assert alice is not None
        with pytest.raises(NotFound):
            remembered_browsers.forget_own(db, runtime, alice, bobs.id, steps.client)
        remembered_browsers.forget_own(db, runtime, alice, first.id, steps.client)
    assert [r.id for r in rows(runtime, alice_remembers)] != [first.id]
    assert len(rows(runtime, alice_remembers)) == 1
    assert len(rows(runtime, bob)) == 1


def test_housekeeping_purges_them_past_the_hard_cap(
    steps: Steps, runtime: Runtime, alice_remembers: Person, clock: FixedClock
) -> None:
    remembered_sign_in(steps, alice_remembers)
    clock.advance(int(timedelta(days=29).total_seconds()))
    assert housekeeping.purge(runtime).remembered_browsers == 0
    clock.advance(int(timedelta(days=1).total_seconds()))
    assert housekeeping.purge(runtime).remembered_browsers == 1
    with runtime.db() as db:
        assert db.scalar(select(func.count()).select_from(RememberedBrowser)) == 0


Started = signin.SignInStarted


def race(runtime: Runtime, person: Person, cookie: str) -> list[object]:
    """Two password sign-ins with the same remember cookie, released at the same moment,
    each in its own database session; what each got."""
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[object] = [None, None]

    def request(index: int) -> None:
        try:
            with runtime.db() as db:
                barrier.wait()
                outcomes[index] = signin.sign_in_with_password(
                    db,
                    runtime,
                    login=person.login,
                    password=person.password,
                    client=ClientInfo(ip=f"198.51.100.{index + 1}"),
                    remembered=cookie,
                )
        except BaseException as error:  # reported by the caller
            outcomes[index] = error

    threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request hung"
    return outcomes


def test_one_cookie_used_twice_at_once_signs_in_once(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    """Two tabs, or the owner and a thief, at the same moment: one conditional UPDATE on
    the old digest decides; the other is asked for the code."""
    for _ in range(5):
        _token, cookie = remembered_sign_in(steps, alice_remembers)
        started = [o for o in race(runtime, alice_remembers, cookie) if isinstance(o, Started)]
        assert len(started) == 2
        stood_in = [s for s in started if s.remembered is not None and s.remembered.stood_in]
        assert len(stood_in) == 1
        assert sum(s.needs_second_factor for s in started) == 1


def test_an_admin_member_keeps_the_code_for_a_reset(
    steps: Steps, runtime: Runtime, alice_remembers: Person
) -> None:
    """An admin signed in on a remembered browser is asked their own code for a reset."""
    from twofold.core.errors import InvalidInput

    with runtime.db() as db:
        db.execute(
            update(Membership)
            .where(Membership.user_id == alice_remembers.id)
            .values(role=Role.ADMIN.value)
        )
        db.commit()
    bob = make_person(runtime, "bob", with_totp=True)
    _token, cookie = remembered_sign_in(steps, alice_remembers)
    started = sign_in(steps, alice_remembers, cookie)
    assert not started.needs_second_factor
    with runtime.db() as db:
        from twofold.services import admin_scope

        session = sessions.find_session(db, runtime, started.token)
        admin = db.get(User, alice_remembers.id)
        target = db.get(User, bob.id)
        assert session is not None
        assert admin is not None
        assert target is not None
        scope = admin_scope.scope_of(db, admin)
        assert scope is not None
        with pytest.raises(InvalidInput):
            member_actions.reset_two_factor_as_admin(
                db, runtime, scope, session, target, reason="lost", code="", client=steps.client
            )
