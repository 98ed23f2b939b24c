"""Invitations by email: the link lets a new person join an organization with a role."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pyotp
import pytest
from sqlalchemy import select

from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, CapturingMailer, Person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, InvalidInput, InvalidToken, WeakPassword
from twofold.core.policy import Demand, TwoFactorPolicy
from twofold.core.sessions import SessionState
from twofold.otp.clock import FixedClock, unix_time
from twofold.services import account, admin_scope, invitations, mail, organizations, users
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import Membership, User

CLIENT = ClientInfo(ip="198.51.100.9", user_agent="Mozilla/5.0 (invitee)")
INVITE_LINK = re.compile(r"https?://\S+/invite/([A-Za-z0-9_-]+)")
NEW = "new.person@example.org"


def invitation_mails(runtime: Runtime) -> list[EmailMessage]:
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    return [m for m in mailer.messages if "invited" in str(m["Subject"])]


def text_body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


@pytest.fixture
def acme(runtime: Runtime) -> int:
    with runtime.db() as db:
        organization = organizations.create_organization(
            db,
            runtime,
            slug="acme",
            name="Acme Inc.",
            two_factor=TwoFactorPolicy.REQUIRED,
            signup_open=False,
        )
        db.commit()
        return organization.id


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock, acme: int) -> Person:
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login="boss",
            password=STRONG_PASSWORD,
            organization_slug="acme",
            role="admin",
        )
        db.commit()
        pending = account.begin_totp_enrollment(db, runtime, user)
        code = pyotp.TOTP(pending.secret_b32).at(unix_time(runtime.now()))
        account.confirm_totp_enrollment(db, runtime, user, code, ClientInfo())
        return Person(id=user.id, login=user.login, password=STRONG_PASSWORD)


def invite(runtime: Runtime, by: Person, email: str = NEW, role: str = "member") -> None:
    with runtime.db() as db:
        user = db.get(User, by.id)
        assert user is not None
        scope = admin_scope.scope_of(db, user)
        assert scope is not None
        invitations.invite(
            db,
            runtime,
            scope,
            organizations.get_organization(db, "acme"),
            email=email,
            role=role,
            client=CLIENT,
        )


def invited_token(runtime: Runtime, by: Person, email: str = NEW, role: str = "member") -> str:
    invite(runtime, by, email, role)
    [message] = invitation_mails(runtime)
    match = INVITE_LINK.search(text_body(message))
    assert match
    return match.group(1)


def accept(runtime: Runtime, token: str, login: str = "newbie", password: str = STRONG_PASSWORD):
    with runtime.db() as db:
        session, _cookie = invitations.accept(
            db, runtime, token=token, login=login, password=password, client=CLIENT
        )
        return session


def test_an_invitation_emails_a_link_to_the_address(runtime: Runtime, boss: Person) -> None:
    invite(runtime, boss)
    [message] = invitation_mails(runtime)
    assert message["To"] == NEW
    body = text_body(message)
    assert INVITE_LINK.search(body)
    assert "You are invited to join Acme Inc." in body
    assert "as member" in body
    assert "it works once, for 7 days" in body


def test_an_invitation_is_recorded_with_the_admin_and_the_role(
    steps, runtime: Runtime, boss: Person
) -> None:
    invite(runtime, boss, role="Admin")
    [event] = steps.events(AuditEventType.INVITATION_SENT)
    assert event.actor_id == boss.id
    assert event.organization_id is not None
    assert steps.detail(event) == {"role": "admin"}


def test_an_address_that_already_has_an_account_is_refused(runtime: Runtime, boss: Person) -> None:
    with runtime.db() as db:
        users.create_user(
            db, runtime, login="taken", password=STRONG_PASSWORD, email=NEW, email_verified=True
        )
        db.commit()
    before = snapshot(runtime)
    with pytest.raises(AlreadyExists) as refused:
        invite(runtime, boss, email=NEW.upper())
    assert refused.value.field == "email"
    assert snapshot(runtime) == before


def test_an_unknown_role_is_refused(runtime: Runtime, boss: Person) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput):
        invite(runtime, boss, role="owner")
    assert snapshot(runtime) == before


def test_a_malformed_address_is_refused(runtime: Runtime, boss: Person) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput):
        invite(runtime, boss, email="not an address")
    assert snapshot(runtime) == before


def test_opening_an_invitation_shows_the_organization_and_the_address(
    runtime: Runtime, boss: Person
) -> None:
    token = invited_token(runtime, boss)
    with runtime.db() as db:
        invitation = invitations.open_invitation(db, runtime, token)
        assert (invitation.organization.slug, invitation.address) == ("acme", NEW)


def test_a_forged_invitation_token_is_refused(runtime: Runtime, boss: Person) -> None:
    invite(runtime, boss)
    with runtime.db() as db, pytest.raises(InvalidToken):
        invitations.open_invitation(db, runtime, "forged")
    with pytest.raises(InvalidToken):
        accept(runtime, "x" * 500)


def test_accepting_creates_the_user_with_a_verified_address_and_the_role(
    runtime: Runtime, clock: FixedClock, boss: Person, acme: int
) -> None:
    token = invited_token(runtime, boss, role="admin")
    accept(runtime, token, login="Newbie")
    with runtime.db() as db:
        user = users.get_by_login(db, "newbie")
        assert user.email == NEW
        assert user.email_verified_at == clock.now()
        assert not user.is_superadmin
        memberships = list(db.scalars(select(Membership).where(Membership.user_id == user.id)))
    assert [(m.organization_id, m.role) for m in memberships] == [(acme, "admin")]


def test_accepting_signs_the_new_person_in_and_2fa_setup_is_owed(
    runtime: Runtime, boss: Person, acme: int
) -> None:
    token = invited_token(runtime, boss)
    session = accept(runtime, token)
    assert session.state == SessionState.AUTHENTICATED.value
    assert session.organization_id == acme
    with runtime.db() as db:
        user = users.get_by_login(db, "newbie")
        live = db.merge(session)
        assert organizations.standing(db, runtime, user, live).access.demand is Demand.ENROLL


def test_accepting_is_recorded(steps, runtime: Runtime, boss: Person, acme: int) -> None:
    accept(runtime, invited_token(runtime, boss))
    [event] = steps.events(AuditEventType.INVITATION_ACCEPTED)
    assert event.organization_id == acme
    assert event.ip == CLIENT.ip


def test_an_invitation_link_works_once(runtime: Runtime, boss: Person) -> None:
    token = invited_token(runtime, boss)
    accept(runtime, token)
    with pytest.raises(InvalidToken):
        accept(runtime, token, login="second", password=OTHER_STRONG_PASSWORD)
    with runtime.db() as db:
        assert users.find_by_login_or_email(db, "second") is None


def test_a_weak_password_leaves_the_link_usable(runtime: Runtime, boss: Person) -> None:
    token = invited_token(runtime, boss)
    with pytest.raises(WeakPassword):
        accept(runtime, token, password="password123")
    with runtime.db() as db:
        assert users.find_by_login_or_email(db, "newbie") is None
    accept(runtime, token)


def test_a_taken_login_leaves_the_link_usable(runtime: Runtime, boss: Person) -> None:
    token = invited_token(runtime, boss)
    with pytest.raises(AlreadyExists) as refused:
        accept(runtime, token, login="boss")
    assert refused.value.field == "login"
    accept(runtime, token)


def test_an_invitation_expires_after_7_days(
    runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    token = invited_token(runtime, boss)
    clock.advance(7 * 24 * 3600)
    with pytest.raises(InvalidToken):
        accept(runtime, token)


def test_an_address_taken_after_the_invitation_is_refused_at_acceptance(
    runtime: Runtime, boss: Person
) -> None:
    token = invited_token(runtime, boss)
    with runtime.db() as db:
        users.create_user(
            db, runtime, login="early", password=STRONG_PASSWORD, email=NEW, email_verified=True
        )
        db.commit()
    with pytest.raises(AlreadyExists):
        accept(runtime, token)
