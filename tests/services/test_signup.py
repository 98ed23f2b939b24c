"""Self-service sign-up: only for organizations with open sign-up, nothing made on refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from smtp_server import running_smtp_server
from support import STRONG_PASSWORD, make_person, snapshot
from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    AlreadyExists,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    WeakPassword,
)
from twofold.core.policy import Demand, TwoFactorPolicy
from twofold.core.sessions import SessionState
from twofold.services import email_addresses, organizations, sessions, signin, signup
from twofold.services.runtime import Runtime
from twofold.store.models import AuthSession, Membership, Organization, OutgoingEmail, User


def make_org(
    runtime: Runtime,
    slug: str,
    policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    *,
    name: str | None = None,
    signup_open: bool = True,
) -> int:
    with runtime.db() as db:
        organization = organizations.create_organization(
            db, runtime, slug=slug, name=name, two_factor=policy, signup_open=signup_open
        )
        db.commit()
        return organization.id


def sign_up(
    runtime: Runtime,
    steps,
    slug: str,
    *,
    login: str = "newbie",
    email: str = "newbie@example.org",
    password: str = STRONG_PASSWORD,
) -> None:
    with runtime.db() as db:
        signup.sign_up(
            db,
            runtime,
            slug=slug,
            login=login,
            email=email,
            password=password,
            client=steps.client,
        )


def signed_up_and_in(runtime: Runtime, steps, slug: str, **fields: str) -> tuple[AuthSession, str]:
    """Sign up (which signs nobody in), confirm the address with the emailed link (an
    unconfirmed sign-up cannot sign in), then sign in with the new login and password."""
    sign_up(runtime, steps, slug, **fields)
    address = fields.get("email", "newbie@example.org")
    with running_smtp_server() as smtp:
        smtp.deliver(runtime)
        link = smtp.only("confirm your email address", address).link
    with runtime.db() as db:
        email_addresses.confirm(db, runtime, link.rsplit("/", 1)[1], steps.client)
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db,
            runtime,
            login=fields.get("login", "newbie"),
            password=fields.get("password", STRONG_PASSWORD),
            client=steps.client,
        )
        return started.session, started.token


def demand_of(runtime: Runtime, token: str) -> Demand:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        user = db.get(User, session.user_id)
        assert user is not None
        return organizations.standing(db, runtime, user, session).access.demand


def user_named(runtime: Runtime, login: str) -> User | None:
    with runtime.db() as db:
        return db.scalar(select(User).where(User.login == login))


# --- success -----------------------------------------------------------------------------


def test_sign_up_makes_a_member_of_that_org_only_and_signs_nobody_in(
    runtime: Runtime, steps
) -> None:
    acme_id = make_org(runtime, "acme")
    sign_up(runtime, steps, "acme", login="NewBie", email="NewBie@Example.org")
    user = user_named(runtime, "newbie")
    assert user is not None
    assert user.email == "newbie@example.org"
    assert user.email_verified_at is None
    assert user.last_sign_in_at is None
    assert not user.is_superadmin
    with runtime.db() as db:
        assert list(db.scalars(select(AuthSession))) == []
    session, token = signed_up_and_in(runtime, steps, "acme", login="other", email="o@example.org")
    with runtime.db() as db:
        memberships = list(db.scalars(select(Membership).where(Membership.user_id == user.id)))
    assert [(m.organization_id, m.role) for m in memberships] == [(acme_id, "member")]
    found = steps.find(token)
    assert found is not None
    assert found.id == session.id
    assert found.state == SessionState.AUTHENTICATED.value
    assert found.amr == "pwd"
    assert found.organization_id == acme_id
    first, _second = steps.events(AuditEventType.USER_CREATED)
    assert (first.user_id, first.organization_id) == (user.id, acme_id)


def test_sign_up_into_a_required_org_must_set_up_2fa_at_once(runtime: Runtime, steps) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    _session, token = signed_up_and_in(runtime, steps, "bank")
    assert demand_of(runtime, token) is Demand.ENROLL


def test_sign_up_into_a_required_org_with_grace_still_sets_up_at_once(
    runtime: Runtime, steps, clock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    with runtime.db() as db:
        organizations.set_policy(
            db,
            runtime,
            organizations.get_organization(db, "bank"),
            two_factor=TwoFactorPolicy.REQUIRED,
            grace_days=30,
            sign_out_everyone=False,
        )
        db.commit()
    clock.advance(3600)
    _session, token = signed_up_and_in(runtime, steps, "bank")
    assert demand_of(runtime, token) is Demand.ENROLL


@pytest.mark.parametrize("policy", [TwoFactorPolicy.OPTIONAL, TwoFactorPolicy.OFF])
def test_sign_up_into_an_org_not_requiring_2fa_demands_nothing(
    runtime: Runtime, steps, policy: TwoFactorPolicy
) -> None:
    make_org(runtime, "acme", policy)
    _session, token = signed_up_and_in(runtime, steps, "acme")
    assert demand_of(runtime, token) is Demand.NONE


def test_open_organizations_lists_only_those_with_open_sign_up_by_name(
    runtime: Runtime,
) -> None:
    make_org(runtime, "zeta", name="Zeta")
    make_org(runtime, "alpha", name="Alpha")
    make_org(runtime, "closed", name="Beta", signup_open=False)
    with runtime.db() as db:
        assert [o.slug for o in signup.open_organizations(db)] == ["alpha", "zeta"]


# --- refusals -------------------------------------------------------------------------


def test_sign_up_for_a_closed_org_is_forbidden_audited_and_creates_nothing(
    runtime: Runtime, steps
) -> None:
    closed_id = make_org(runtime, "acme", signup_open=False)
    before = snapshot(runtime, skip=("audit_events",))
    with pytest.raises(Forbidden) as caught:
        sign_up(runtime, steps, "acme")
    assert caught.value.detail == words.translate(words.SIGNUP_CLOSED)
    assert snapshot(runtime, skip=("audit_events",)) == before
    [event] = steps.events(AuditEventType.SIGNUP_REFUSED)
    assert event.organization_id == closed_id
    assert event.ip == steps.client.ip
    assert steps.detail(event) == {"reason": "closed"}
    assert steps.events(AuditEventType.USER_CREATED) == []


@pytest.mark.parametrize("slug", ["nowhere", "", "ACME", "x" * 300])
def test_sign_up_for_an_unknown_org_is_forbidden_audited_and_creates_nothing(
    runtime: Runtime, steps, slug: str
) -> None:
    make_org(runtime, "acme")
    before = snapshot(runtime, skip=("audit_events",))
    with pytest.raises(Forbidden):
        sign_up(runtime, steps, slug)
    assert snapshot(runtime, skip=("audit_events",)) == before
    [event] = steps.events(AuditEventType.SIGNUP_REFUSED)
    assert event.organization_id is None
    assert steps.detail(event) == {"reason": "unknown_organization"}


def test_the_default_organization_is_closed_to_sign_up(runtime: Runtime, steps) -> None:
    with pytest.raises(Forbidden):
        sign_up(runtime, steps, "default")


def test_a_taken_login_is_refused_and_nothing_is_created(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    make_person(runtime, "bob")
    before = snapshot(runtime)
    with pytest.raises(AlreadyExists) as caught:
        sign_up(runtime, steps, "acme", login="BOB", email="other@example.org")
    assert caught.value.field == "login"
    assert caught.value.detail == "That login name is taken. Choose another."
    assert snapshot(runtime) == before


def test_a_taken_email_creates_nothing_and_is_answered_like_a_new_one(
    runtime: Runtime, steps
) -> None:
    make_org(runtime, "acme")
    bob = make_person(runtime, "bob", email="bob@example.org")
    sign_up(runtime, steps, "acme", login="robert", email="Bob@Example.org")  # no error
    assert user_named(runtime, "robert") is None
    with runtime.db() as db:
        [mail] = db.scalars(select(OutgoingEmail))
        assert list(db.scalars(select(AuthSession))) == []
    assert (mail.recipient, mail.kind, mail.user_id) == (
        "bob@example.org",
        "signup_address_taken",
        bob.id,
    )
    [event] = steps.events(AuditEventType.SIGNUP_REFUSED)
    assert event.user_id == bob.id
    assert steps.detail(event) == {"reason": "address_taken"}


def test_a_taken_login_is_reported_whether_or_not_the_email_is_taken(
    runtime: Runtime, steps
) -> None:
    make_org(runtime, "acme")
    make_person(runtime, "bob", email="bob@example.org")
    for email in ("bob@example.org", "new@example.org"):
        with pytest.raises(AlreadyExists) as caught:
            sign_up(runtime, steps, "acme", login="bob", email=email)
        assert caught.value.field == "login"


def test_a_weak_password_is_refused_with_a_reason_and_nothing_is_created(
    runtime: Runtime, steps
) -> None:
    make_org(runtime, "acme")
    before = snapshot(runtime)
    with pytest.raises(WeakPassword) as caught:
        sign_up(runtime, steps, "acme", password="password123")
    assert caught.value.detail
    assert snapshot(runtime) == before


def test_a_short_password_is_refused_and_nothing_is_created(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as caught:
        sign_up(runtime, steps, "acme", password="short")
    assert caught.value.detail == "Use at least 10 characters."
    assert snapshot(runtime) == before


def test_a_password_made_of_the_login_is_refused(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    with pytest.raises(WeakPassword):
        sign_up(runtime, steps, "acme", login="margaretthatcher", password="margaretthatcher")


@pytest.mark.parametrize("email", ["", "   "])
def test_a_missing_email_is_refused(runtime: Runtime, steps, email: str) -> None:
    make_org(runtime, "acme")
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as caught:
        sign_up(runtime, steps, "acme", email=email)
    assert caught.value.field == "email"
    assert caught.value.detail == "Enter your email address."
    assert snapshot(runtime) == before


def test_a_malformed_email_is_refused(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    with pytest.raises(InvalidInput) as caught:
        sign_up(runtime, steps, "acme", email="not-an-address")
    assert caught.value.field == "email"


@pytest.mark.parametrize("login", ["", "a", "-bob", "bob smith", "b" * 65])
def test_a_malformed_login_is_refused(runtime: Runtime, steps, login: str) -> None:
    make_org(runtime, "acme")
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as caught:
        sign_up(runtime, steps, "acme", login=login)
    assert caught.value.field == "login"
    assert snapshot(runtime) == before


def test_a_closed_org_is_refused_before_any_field_is_checked(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme", signup_open=False)
    with pytest.raises(Forbidden):
        sign_up(runtime, steps, "acme", login="", email="", password="")


def test_an_org_closed_after_the_page_was_opened_refuses_the_form(runtime: Runtime, steps) -> None:
    make_org(runtime, "acme")
    with runtime.db() as db:
        assert signup.organization_open_for_signup(db, "acme").slug == "acme"
        organization = db.scalar(select(Organization).where(Organization.slug == "acme"))
        assert organization is not None
        organization.signup_open = False
        db.commit()
    with pytest.raises(Forbidden):
        sign_up(runtime, steps, "acme")
    assert user_named(runtime, "newbie") is None


def test_an_unconfirmed_sign_up_cannot_sign_in_and_is_answered_like_a_wrong_password(
    runtime: Runtime, steps
) -> None:
    """Otherwise signing in with the fresh login name would tell whether the sign-up (with
    someone else's address) created an account."""
    make_org(runtime, "acme")
    sign_up(runtime, steps, "acme", login="prober", email="victim@example.org")
    with runtime.db() as db, pytest.raises(InvalidCredentials):
        signin.sign_in_with_password(
            db, runtime, login="prober", password=STRONG_PASSWORD, client=steps.client
        )
    [event] = steps.events(AuditEventType.SIGN_IN_PASSWORD_FAILED)
    assert steps.detail(event)["reason"] == "address_unconfirmed"
    with runtime.db() as db, pytest.raises(InvalidCredentials):
        signin.sign_in_with_password(
            db, runtime, login="nobody-here", password=STRONG_PASSWORD, client=steps.client
        )
    # Once the address is confirmed, the same person signs in.
    session, _token = signed_up_and_in(runtime, steps, "acme", login="carla", email="c@example.org")
    assert session.state == SessionState.AUTHENTICATED.value
