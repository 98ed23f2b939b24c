"""A person's connected applications outside the protocol: listed, revoked by them, and
revoked by every sign-out and credential change, with `credentials_changed_at` set so that
a refresh from an earlier sign-in fails too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support import (
    OTHER_STRONG_PASSWORD,
    Person,
    make_client,
    make_grant,
    make_member,
    make_org,
    make_person,
    revoked,
    set_policy,
    snapshot,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services import (
    account,
    activity,
    admin_scope,
    links,
    member_actions,
    oidc_grants,
    password_reset,
    signin,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuditEvent, AuthSession, OidcClient, OidcGrant, User

BROWSER = ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0 (pytest browser)")


def load(db: Session, person: Person) -> User:
    user = db.get(User, person.id)
    assert user is not None
    return user


def listed(runtime: Runtime, person: Person) -> list[oidc_grants.ConnectedApplication]:
    with runtime.db() as db:
        return oidc_grants.connected_applications(db, load(db, person), runtime.now())


def credentials_changed_at(runtime: Runtime, person: Person) -> datetime | None:
    with runtime.db() as db:
        return load(db, person).credentials_changed_at


def revocation_events(runtime: Runtime) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == AuditEventType.OIDC_GRANTS_REVOKED)
                .order_by(AuditEvent.id)
            )
        )


def session_of(runtime: Runtime, person: Person, previous: int | None = None) -> int:
    """A signed-in session (password only: these people have no 2FA)."""
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db,
            runtime,
            login=person.login,
            password=person.password,
            client=BROWSER,
            previous_session_id=previous,
        )
        return started.session.id


def test_one_entry_per_application_with_its_first_and_last_sign_in(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    grafana = make_client(runtime, "Grafana")
    wiki = make_client(runtime, "Wiki")
    first = clock.now()
    make_grant(runtime, alice, grafana)
    clock.advance(3600)
    make_grant(runtime, alice, wiki)
    clock.advance(3600)
    make_grant(runtime, alice, grafana)
    assert [
        (app.name, app.organization, app.first_sign_in, app.last_sign_in)
        for app in listed(runtime, alice)
    ] == [
        ("Grafana", "Default organization", first, first + timedelta(hours=2)),
        ("Wiki", "Default organization", first + timedelta(hours=1), first + timedelta(hours=1)),
    ]


def test_ended_grants_and_revoked_applications_are_not_listed(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    expiring = make_client(runtime, "Expiring")
    withdrawn = make_client(runtime, "Withdrawn")
    make_grant(runtime, alice, expiring, lifetime=timedelta(minutes=5))
    make_grant(runtime, alice, withdrawn)
    make_grant(runtime, bob, make_client(runtime, "Bob's"))
    with runtime.db() as db:
        client = db.scalar(select(OidcClient).where(OidcClient.client_id == withdrawn))
        assert client is not None
        client.revoked_at = runtime.now()
        db.commit()
    assert [app.name for app in listed(runtime, alice)] == ["Expiring"]
    clock.advance(300)
    assert listed(runtime, alice) == []


def test_revoking_an_application_ends_every_grant_of_it_and_nothing_else(
    runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    grafana = make_client(runtime, "Grafana")
    wiki = make_client(runtime, "Wiki")
    mine = [make_grant(runtime, alice, grafana), make_grant(runtime, alice, grafana)]
    other_app = make_grant(runtime, alice, wiki)
    bobs = make_grant(runtime, bob, grafana)
    with runtime.db() as db:
        ended = oidc_grants.revoke_application(db, runtime, load(db, alice), grafana, BROWSER)
    assert ended == 2
    assert [revoked(runtime, grant) for grant in mine] == [oidc_grants.REVOKED_BY_USER] * 2
    assert revoked(runtime, other_app) is None
    assert revoked(runtime, bobs) is None
    assert [app.name for app in listed(runtime, alice)] == ["Wiki"]
    [event] = revocation_events(runtime)
    assert event.user_id == alice.id
    assert event.ip == BROWSER.ip
    assert '"grants": 2' in event.detail
    assert grafana in event.detail
    assert '"reason": "revoked_by_user"' in event.detail


@pytest.mark.parametrize("which", ["someone else's", "unknown", "already revoked"])
def test_an_application_one_is_not_connected_to_is_not_found_and_nothing_changes(
    runtime: Runtime, alice: Person, which: str
) -> None:
    bob = make_person(runtime, "bob")
    grafana = make_client(runtime, "Grafana")
    make_grant(runtime, bob, grafana)
    target = "no-such-client" if which == "unknown" else grafana
    if which == "already revoked":
        make_grant(runtime, alice, grafana)
        with runtime.db() as db:
            oidc_grants.revoke_application(db, runtime, load(db, alice), grafana)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(NotFound):
        oidc_grants.revoke_application(db, runtime, load(db, alice), target)
    assert snapshot(runtime) == before


def test_revoke_grant_ends_a_grant_once_and_says_so(runtime: Runtime, alice: Person) -> None:
    grant_id = make_grant(runtime, alice, make_client(runtime))
    with runtime.db() as db:
        grant = db.get(OidcGrant, grant_id)
        assert grant is not None
        assert oidc_grants.revoke_grant(db, grant, "code_replayed", runtime.now())
        assert grant.revoked_reason == "code_replayed"
        assert not oidc_grants.revoke_grant(db, grant, "refresh_reused", runtime.now())
        db.commit()
    assert revoked(runtime, grant_id) == "code_replayed"
    assert len(revocation_events(runtime)) == 1


def test_signing_out_revokes_the_grants_of_that_session_only(
    runtime: Runtime, alice: Person
) -> None:
    grafana = make_client(runtime)
    here, there = session_of(runtime, alice), session_of(runtime, alice)
    from_here = make_grant(runtime, alice, grafana, session_id=here)
    from_there = make_grant(runtime, alice, grafana, session_id=there)
    with runtime.db() as db:
        activity.end_own_session(db, runtime, load(db, alice), here, BROWSER)
    assert revoked(runtime, from_here) == oidc_grants.SIGNED_OUT
    assert revoked(runtime, from_there) is None
    assert credentials_changed_at(runtime, alice) is None  # one session: not "everywhere"


def test_signing_in_again_in_the_same_browser_keeps_the_same_persons_applications(
    runtime: Runtime, alice: Person
) -> None:
    first = session_of(runtime, alice)
    grant = make_grant(runtime, alice, make_client(runtime), session_id=first)
    second = session_of(runtime, alice, previous=first)  # e.g. a client asked prompt=login
    assert revoked(runtime, grant) is None
    with runtime.db() as db:
        moved = db.get(OidcGrant, grant)
        assert moved is not None
        assert moved.session_id == second
        current = db.get(AuthSession, second)
        assert current is not None
        signin.sign_out(db, runtime, current, BROWSER)
    assert revoked(runtime, grant) == oidc_grants.SIGNED_OUT


def test_another_person_signing_in_in_the_same_browser_signs_the_first_out_of_their_apps(
    runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    alices = session_of(runtime, alice)
    grant = make_grant(runtime, alice, make_client(runtime), session_id=alices)
    session_of(runtime, bob, previous=alices)
    assert revoked(runtime, grant) == oidc_grants.SIGNED_OUT


# -- Credential changes: each sets credentials_changed_at and ends every grant -----------------


def change_password(runtime: Runtime, person: Person, keep: int) -> None:
    with runtime.db() as db:
        account.change_password(
            db,
            runtime,
            load(db, person),
            current_password=person.password,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=keep,
            client=BROWSER,
        )


def reset_password_by_link(runtime: Runtime, person: Person, keep: int) -> None:
    with runtime.db() as db:
        token = links.issue(
            db,
            runtime,
            purpose=password_reset.PURPOSE,
            user_id=person.id,
            lifetime=password_reset.LIFETIME,
        )
        db.commit()
        password_reset.complete_reset(
            db,
            runtime,
            token=token,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            client=BROWSER,
        )


def sign_out_all_other_sessions(runtime: Runtime, person: Person, keep: int) -> None:
    with runtime.db() as db:
        activity.end_other_sessions(db, runtime, load(db, person), keep, BROWSER)


def organization_signs_everyone_out(runtime: Runtime, person: Person, keep: int) -> None:
    set_policy(runtime, "default", TwoFactorPolicy.OPTIONAL, sign_out_everyone=True)


CREDENTIAL_CHANGES: dict[str, Callable[[Runtime, Person, int], None]] = {
    "password changed": change_password,
    "password reset by link": reset_password_by_link,
    "sign out all other sessions": sign_out_all_other_sessions,
    "organization signs everyone out": organization_signs_everyone_out,
}


@pytest.mark.parametrize("change", list(CREDENTIAL_CHANGES))
def test_a_credential_change_ends_every_application_grant(
    runtime: Runtime, clock: FixedClock, change: str
) -> None:
    alice = make_member(runtime, "alice", "default")
    carol = make_member(runtime, "carol", "default") if "organization" in change else None
    make_org(runtime, "other")
    bystander = make_member(runtime, "dave", "other")  # not a member of alice's organization
    grafana = make_client(runtime)
    kept = session_of(runtime, alice)
    other = session_of(runtime, alice)
    grants = [
        make_grant(runtime, alice, grafana, session_id=kept),
        make_grant(runtime, alice, grafana, session_id=other),
        make_grant(runtime, alice, grafana),  # its session already expired and was purged
    ]
    carols = make_grant(runtime, carol, grafana) if carol else None
    untouched = make_grant(runtime, bystander, grafana)
    clock.advance(60)
    CREDENTIAL_CHANGES[change](runtime, alice, kept)
    assert credentials_changed_at(runtime, alice) == clock.now()
    assert all(revoked(runtime, grant) is not None for grant in grants)
    assert revoked(runtime, untouched) is None
    assert credentials_changed_at(runtime, bystander) is None
    if carol is not None and carols is not None:
        assert credentials_changed_at(runtime, carol) == clock.now()
        assert revoked(runtime, carols) == oidc_grants.CREDENTIALS_CHANGED
    assert listed(runtime, alice) == []


def test_turning_2fa_off_ends_every_application_grant(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    grant = make_grant(runtime, alice_with_totp, make_client(runtime))
    with runtime.db() as db:
        account.disable_two_factor(
            db, runtime, load(db, alice_with_totp), alice_with_totp.password, BROWSER
        )
    assert credentials_changed_at(runtime, alice_with_totp) == clock.now()
    assert revoked(runtime, grant) == oidc_grants.CREDENTIALS_CHANGED


def test_an_admin_resetting_2fa_ends_every_application_grant(
    runtime: Runtime, clock: FixedClock
) -> None:
    root = make_member(runtime, "root", "default", superadmin=True)
    alice = make_member(runtime, "alice", "default", with_totp=True)
    grant = make_grant(runtime, alice, make_client(runtime))
    with runtime.db() as db:
        admin = db.get(User, root.id)
        assert admin is not None
        scope = admin_scope.scope_of(db, admin)
        assert scope is not None
        member_actions.reset_two_factor(
            db,
            runtime,
            scope,
            load(db, alice),
            reason="lost phone",
            client=BROWSER,
            send_email=False,
        )
    assert credentials_changed_at(runtime, alice) == clock.now()
    assert revoked(runtime, grant) == oidc_grants.CREDENTIALS_CHANGED
