"""Registering, listing, revoking applications and rotating their secrets (OpenID Connect
clients): who may, what is refused with nothing changed, what the admins are told, and that
a secret is kept only as its SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support import STRONG_PASSWORD, CapturingMailer, make_org, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import Forbidden, InvalidInput, NotFound
from twofold.core.policy import Role
from twofold.services import admin_scope, mail, oidc_clients, users
from twofold.services.admin_scope import OPERATOR, AdminScope
from twofold.services.oidc_clients import CreatedClient
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, OidcClient, OidcGrant, User

APP = "https://grafana.example.org/login/generic_oauth"


def delivered(runtime: Runtime) -> dict[str, list[str]]:
    """Deliver the queue: each recipient's messages, as subject + plain text."""
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    sent: dict[str, list[str]] = {}
    for message in mailer.messages:
        part = message.get_body(("plain",))
        assert part is not None
        body = str(part.get_content())  # type: ignore[attr-defined]
        sent.setdefault(str(message["To"]), []).append(f"{message['Subject']}\n{body}")
    return sent


def add_person(
    runtime: Runtime, login: str, slug: str, role: Role = Role.MEMBER, *, superadmin: bool = False
) -> int:
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login=login,
            password=STRONG_PASSWORD,
            email=f"{login}@example.org",
            email_verified=True,
            organization_slug=slug,
            role=role.value,
            superadmin=superadmin,
        )
        db.commit()
        return user.id


@contextmanager
def acting_as(runtime: Runtime, user_id: int) -> Iterator[tuple[Session, AdminScope]]:
    with runtime.db() as db:
        user = db.get(User, user_id)
        assert user is not None
        scope = admin_scope.scope_of(db, user)
        assert scope is not None
        yield db, scope


def register(
    runtime: Runtime,
    slug: str = "acme",
    *,
    uris: list[str] | None = None,
    public: bool = False,
    actor: AdminScope = OPERATOR,
    db: Session | None = None,
    name: str = "Grafana",
) -> CreatedClient:
    """Registered by `actor`, in `db` (the actor's session) or a session of its own."""
    if db is None:
        with runtime.db() as own:
            return register(runtime, slug, uris=uris, public=public, actor=actor, db=own, name=name)
    return oidc_clients.create_client(
        db, runtime, slug, name=name, redirect_uris=uris or [APP], public=public, actor=actor
    )


def stored(runtime: Runtime, client_id: str) -> OidcClient:
    with runtime.db() as db:
        return oidc_clients.get_client(db, client_id)


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(select(AuditEvent).where(AuditEvent.event == event.value).order_by("id"))
        )


def add_grant(runtime: Runtime, client: OidcClient, user_id: int) -> int:
    now = runtime.now()
    with runtime.db() as db:
        grant = OidcGrant(
            client_id=client.id,
            user_id=user_id,
            scope="openid",
            amr="pwd",
            acr="urn:twofold:acr:pwd",
            auth_time=now,
            created_at=now,
            expires_at=now + timedelta(days=30),
        )
        db.add(grant)
        db.commit()
        return grant.id


@pytest.fixture
def acme(runtime: Runtime) -> int:
    make_org(runtime, "acme", name="Acme Inc.")
    make_org(runtime, "globex", name="Globex")
    return add_person(runtime, "boss", "acme", Role.ADMIN)


# --- registering ---------------------------------------------------------------------------


def test_a_confidential_client_gets_a_256_bit_secret_stored_only_as_its_sha256(
    runtime: Runtime, acme: int
) -> None:
    created = register(runtime)
    assert created.secret is not None
    assert len(created.secret) == 43
    row = stored(runtime, created.client.client_id)
    assert row.secret_digest == hashlib.sha256(created.secret.encode()).digest()
    assert oidc_clients.client_secret_matches(row, created.secret)
    everything = json.dumps(snapshot(runtime), default=repr)
    assert created.secret not in everything


def test_a_public_client_has_no_secret(runtime: Runtime, acme: int) -> None:
    created = register(runtime, public=True)
    assert created.secret is None
    assert created.client.client_id.isalnum()  # never "-…", which a command line misreads
    assert stored(runtime, created.client.client_id).is_public


def test_registered_redirect_uris_are_kept_exactly_and_once(runtime: Runtime, acme: int) -> None:
    created = register(runtime, uris=[APP, "http://localhost:3000/cb?x=1", APP])
    row = stored(runtime, created.client.client_id)
    assert oidc_clients.redirect_uris_of(row) == [APP, "http://localhost:3000/cb?x=1"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://grafana.example.org/callback",  # http beyond localhost
        "https://*.example.org/callback",  # wildcard
        "https://grafana.example.org/*",
        "https://grafana.example.org/cb#part",  # fragment
        "https://user:pw@grafana.example.org/cb",
        "/relative/callback",
        "javascript:alert(1)",
        "https://" + "a" * 2000 + ".org/",
    ],
)
def test_a_bad_redirect_uri_is_refused_and_nothing_is_stored(
    runtime: Runtime, acme: int, uri: str
) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        register(runtime, uris=[APP, uri])
    assert refused.value.field == "redirect_uri"
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    "uri", ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]/"]
)
def test_http_is_accepted_for_localhost(runtime: Runtime, acme: int, uri: str) -> None:
    register(runtime, uris=[uri])


def test_a_bad_post_logout_uri_is_refused_on_its_own_field(runtime: Runtime, acme: int) -> None:
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput) as refused:
        oidc_clients.create_client(
            db,
            runtime,
            "acme",
            name="Grafana",
            redirect_uris=[APP],
            post_logout_redirect_uris=["http://grafana.example.org/"],
        )
    assert refused.value.field == "post_logout_redirect_uri"
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("name", "uris", "field"),
    [("  ", [APP], "name"), ("x" * 201, [APP], "name"), ("Grafana", [], "redirect_uri")],
)
def test_a_missing_name_or_redirect_uri_is_refused(
    runtime: Runtime, acme: int, name: str, uris: list[str], field: str
) -> None:
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput) as refused:
        oidc_clients.create_client(db, runtime, "acme", name=name, redirect_uris=uris)
    assert refused.value.field == field
    assert snapshot(runtime) == before


def test_registering_for_an_unknown_organization_is_refused(runtime: Runtime, acme: int) -> None:
    with pytest.raises(NotFound, match="There is no organization 'nope'"):
        register(runtime, "nope")


def test_registering_is_audited_for_the_organization(runtime: Runtime, acme: int) -> None:
    with acting_as(runtime, acme) as (db, scope):
        created = register(runtime, actor=scope, db=db)
    [event] = events(runtime, AuditEventType.CLIENT_CREATED)
    assert event.actor_id == acme
    assert event.organization_id == stored(runtime, created.client.client_id).organization_id
    detail = json.loads(event.detail)
    assert detail["client_id"] == created.client.client_id
    assert detail["application"] == "Grafana"
    assert created.secret is not None
    assert created.secret not in event.detail


def test_every_admin_of_the_organization_is_mailed_without_the_secret(
    runtime: Runtime, acme: int
) -> None:
    add_person(runtime, "second-admin", "acme", Role.ADMIN)
    add_person(runtime, "plain", "acme")
    add_person(runtime, "other-admin", "globex", Role.ADMIN)
    delivered(runtime)  # nothing of interest queued before
    created = register(runtime)
    sent = delivered(runtime)
    assert sorted(sent) == ["boss@example.org", "second-admin@example.org"]
    [message] = sent["boss@example.org"]
    assert "application 'Grafana' registered for Acme Inc." in message
    assert "An operator, on the command line, registered the application 'Grafana'" in message
    assert created.client.client_id in message
    assert "/admin/applications?org=acme" in message
    assert created.secret is not None
    assert created.secret not in message


# --- who may -------------------------------------------------------------------------------


def test_an_admin_of_another_organization_cannot_register_and_is_recorded(
    runtime: Runtime, acme: int
) -> None:
    outsider = add_person(runtime, "outsider", "globex", Role.ADMIN)
    before = snapshot(runtime, skip=("audit_events",))
    with acting_as(runtime, outsider) as (db, scope), pytest.raises(Forbidden):
        register(runtime, actor=scope, db=db)
    assert snapshot(runtime, skip=("audit_events",)) == before
    [refusal] = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert refusal.actor_id == outsider
    assert json.loads(refusal.detail) == {"action": "create_client"}


def test_an_admin_of_another_organization_cannot_revoke_or_rotate(
    runtime: Runtime, acme: int
) -> None:
    created = register(runtime)
    outsider = add_person(runtime, "outsider", "globex", Role.ADMIN)
    before = snapshot(runtime, skip=("audit_events",))
    for action in (oidc_clients.revoke_client, oidc_clients.rotate_secret):
        with acting_as(runtime, outsider) as (db, scope), pytest.raises(Forbidden):
            action(db, runtime, created.client.client_id, scope)
    assert snapshot(runtime, skip=("audit_events",)) == before
    refusals = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert [json.loads(e.detail)["action"] for e in refusals] == [
        "revoke_client",
        "rotate_client_secret",
    ]


def test_a_superadmin_may_register_for_any_organization(runtime: Runtime, acme: int) -> None:
    root = add_person(runtime, "root", "globex", superadmin=True)
    with acting_as(runtime, root) as (db, scope):
        created = register(runtime, "acme", actor=scope, db=db)
    assert stored(runtime, created.client.client_id).created_by_id == root


def test_list_shows_only_the_organizations_clients_revoked_ones_too(
    runtime: Runtime, acme: int, clock
) -> None:
    first = register(runtime)
    clock.advance(60)
    second = register(runtime, public=True, name="Grafana mobile")
    register(runtime, "globex")
    with runtime.db() as db:
        oidc_clients.revoke_client(db, runtime, first.client.client_id, OPERATOR)
    with runtime.db() as db:
        listed = oidc_clients.list_clients(db, "acme")
    assert [c.client_id for c in listed] == [first.client.client_id, second.client.client_id]
    assert listed[0].revoked_at is not None


# --- revoking ------------------------------------------------------------------------------


def test_revoking_ends_every_grant_of_the_client_and_no_other(runtime: Runtime, acme: int) -> None:
    created = register(runtime)
    other = register(runtime, name="Nextcloud")
    grant = add_grant(runtime, created.client, acme)
    untouched = add_grant(runtime, other.client, acme)
    with runtime.db() as db:
        oidc_clients.revoke_client(db, runtime, created.client.client_id, OPERATOR)
    with runtime.db() as db:
        assert oidc_clients.find_active_client(db, created.client.client_id) is None
        ended = db.get(OidcGrant, grant)
        assert ended is not None
        assert ended.revoked_at == runtime.now()
        assert ended.revoked_reason == "client_revoked"
        kept = db.get(OidcGrant, untouched)
        assert kept is not None
        assert kept.revoked_at is None
    [event] = events(runtime, AuditEventType.CLIENT_REVOKED)
    assert json.loads(event.detail)["grants_revoked"] == 1


def test_revoking_is_mailed_to_the_admins(runtime: Runtime, acme: int) -> None:
    created = register(runtime)
    delivered(runtime)
    with acting_as(runtime, acme) as (db, scope):
        oidc_clients.revoke_client(db, runtime, created.client.client_id, scope)
    [message] = delivered(runtime)["boss@example.org"]
    assert "application 'Grafana' revoked for Acme Inc." in message
    assert "The administrator boss revoked the application 'Grafana'" in message


def test_revoking_twice_is_refused_with_nothing_changed(runtime: Runtime, acme: int) -> None:
    created = register(runtime)
    with runtime.db() as db:
        oidc_clients.revoke_client(db, runtime, created.client.client_id, OPERATOR)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput, match="was already revoked"):
        oidc_clients.revoke_client(db, runtime, created.client.client_id, OPERATOR)
    assert snapshot(runtime) == before


def test_an_unknown_client_id_is_refused(runtime: Runtime, acme: int) -> None:
    with runtime.db() as db, pytest.raises(NotFound, match="no application with client ID 'x'"):
        oidc_clients.revoke_client(db, runtime, "x", OPERATOR)


# --- rotating the secret -------------------------------------------------------------------


def test_rotating_gives_a_new_secret_and_the_old_one_stops_working(
    runtime: Runtime, acme: int
) -> None:
    created = register(runtime)
    with runtime.db() as db:
        new = oidc_clients.rotate_secret(db, runtime, created.client.client_id, OPERATOR)
    row = stored(runtime, created.client.client_id)
    assert created.secret is not None
    assert new != created.secret
    assert oidc_clients.client_secret_matches(row, new)
    assert not oidc_clients.client_secret_matches(row, created.secret)
    [event] = events(runtime, AuditEventType.CLIENT_SECRET_ROTATED)
    assert new not in event.detail


def test_a_public_client_has_no_secret_to_rotate(runtime: Runtime, acme: int) -> None:
    created = register(runtime, public=True)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput, match="is public: it has no secret"):
        oidc_clients.rotate_secret(db, runtime, created.client.client_id, OPERATOR)
    assert snapshot(runtime) == before


def test_a_revoked_client_gets_no_new_secret(runtime: Runtime, acme: int) -> None:
    created = register(runtime)
    with runtime.db() as db:
        oidc_clients.revoke_client(db, runtime, created.client.client_id, OPERATOR)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput, match="is revoked: it cannot get"):
        oidc_clients.rotate_secret(db, runtime, created.client.client_id, OPERATOR)
    assert snapshot(runtime) == before


def test_a_second_application_of_the_same_name_is_refused_until_the_first_is_revoked(
    runtime: Runtime, acme: int
) -> None:
    """A reload of the console's "registered" page posts the form again: it must not
    register the application twice."""
    first = register(runtime)
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        register(runtime, name="grafana ")
    assert refused.value.field == "name"
    assert "already has an application named 'grafana'" in refused.value.detail
    assert snapshot(runtime) == before
    register(runtime, "globex")  # another organization may use the name
    with runtime.db() as db:
        oidc_clients.revoke_client(db, runtime, first.client.client_id, OPERATOR)
    assert register(runtime).client.name == "Grafana"
