"""Applications that sign their people in through Twofold (OpenID Connect clients).

Each belongs to one organization. A confidential client has a secret: 256 random bits,
shown once, kept only as its SHA-256 (it is high-entropy, like a link token). Redirect URIs
are matched exactly, never by prefix or wildcard; https only, except http on localhost.

Who may register, revoke or rotate: the admin scope (services/admin_scope.py) — the operator
on the command line, super-admins, and the organization's own admins. Registering and
revoking are audited and mailed to every admin of the organization (never with the secret).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidInput, NotFound
from twofold.core.words import Msg, Text, Words
from twofold.crypto.tokens import constant_time_equals, token_digest
from twofold.notify import messages
from twofold.notify.messages import Message
from twofold.services import audit, credential_names, oidc_grants, signing_keys
from twofold.services.admin_scope import OPERATOR, AdminScope, acted_by, ensure_administers
from twofold.services.notifications import notify_admins
from twofold.services.organizations import get_organization
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.db import rows_affected
from twofold.store.models import OidcClient, OidcGrant, Organization, User

_LOOPBACK_NAMES = {"localhost"}
MAX_URIS = 20  # of each kind, per client
MAX_URI_LENGTH = 2000
GRANT_REVOKED_REASON = "client_revoked"
_ID_ALPHABET = string.ascii_letters + string.digits


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, field: str = "redirect_uri") -> str:
    """The URI as given, if a client may register it; else InvalidInput on `field`."""
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidInput(field, words.CLIENT_URI_TOO_LONG(max=MAX_URI_LENGTH))
    refused = InvalidInput(field, words.CLIENT_REDIRECT_URI_INVALID(uri=uri[:200]))
    if not uri or uri != uri.strip() or "*" in uri or any(ord(c) < 33 for c in uri):
        raise refused
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise refused from None
    if not host or parts.fragment or "@" in parts.netloc or "\\" in uri:
        raise refused
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return uri
    raise refused


def redirect_uris_of(client: OidcClient) -> list[str]:
    return list(json.loads(client.redirect_uris))


def post_logout_redirect_uris_of(client: OidcClient) -> list[str]:
    return list(json.loads(client.post_logout_redirect_uris))


@dataclass(frozen=True)
class CreatedClient:
    client: OidcClient
    secret: str | None  # shown once; None for a public client


def new_client_id() -> str:
    """24 letters and digits (143 bits): never starting with "-", which a command line would
    take for an option, and safe in any configuration file."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _checked_uris(uris: list[str], field: str) -> list[str]:
    """Each URI checked, duplicates dropped, order kept."""
    if len(uris) > MAX_URIS:
        raise InvalidInput(field, words.CLIENT_TOO_MANY_URIS(max=MAX_URIS))
    return list(dict.fromkeys(check_redirect_uri(u, field) for u in uris))


@use_case
def create_client(
    db: Session,
    runtime: Runtime,
    organization_slug: str,
    *,
    name: str,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str] | None = None,
    public: bool = False,
    require_two_factor: bool = False,
    id_token_alg: str = signing_keys.RS256,
    created_by: User | None = None,
    actor: AdminScope = OPERATOR,
    client: ClientInfo | None = None,
) -> CreatedClient:
    """Register an application for the organization; the secret is returned only here.
    Refused (and recorded) unless `actor` administers the organization."""
    organization = get_organization(db, organization_slug)
    ensure_administers(db, runtime, actor, organization.id, "create_client", client)
    name = credential_names.checked_name(name, words.CLIENT_NAME_REQUIRED)
    taken = words.CLIENT_NAME_TAKEN(name=name)
    credential_names.ensure_free(db, OidcClient, organization.id, name, taken)
    if not redirect_uris:
        raise InvalidInput("redirect_uri", words.CLIENT_REDIRECT_URI_REQUIRED)
    if id_token_alg not in signing_keys.ALGORITHMS:
        raise InvalidInput("id_token_alg", words.CLIENT_ID_TOKEN_ALG_INVALID(alg=id_token_alg[:20]))
    uris = _checked_uris(redirect_uris, "redirect_uri")
    logout_uris = _checked_uris(post_logout_redirect_uris or [], "post_logout_redirect_uri")
    secret = None if public else new_client_secret()
    creator = created_by or actor.admin
    now = runtime.now()
    oidc_client = OidcClient(
        client_id=new_client_id(),
        organization_id=organization.id,
        name=name,
        secret_digest=None if secret is None else token_digest(secret),
        require_two_factor=require_two_factor,
        id_token_signed_response_alg=id_token_alg,
        redirect_uris=json.dumps(uris),
        post_logout_redirect_uris=json.dumps(logout_uris),
        created_at=now,
        created_by_id=creator.id if creator else None,
    )
    credential_names.insert_named(db, oidc_client, taken)
    audit.record(
        db,
        now,
        AuditEventType.CLIENT_CREATED,
        actor_id=actor.actor_id,
        organization_id=organization.id,
        client=client,
        client_id=oidc_client.client_id,
        application=name,
        public=public,
        require_two_factor=require_two_factor,
        id_token_alg=id_token_alg,
    )
    _tell_admins(
        db, runtime, organization, "client_created", messages.client_created, oidc_client, actor
    )
    return CreatedClient(client=oidc_client, secret=secret)


def list_clients(db: Session, organization_slug: str) -> list[OidcClient]:
    """The organization's applications, revoked ones too, oldest first."""
    organization = get_organization(db, organization_slug)
    return list(
        db.scalars(
            select(OidcClient)
            .where(OidcClient.organization_id == organization.id)
            .order_by(OidcClient.created_at, OidcClient.id)
        )
    )


def administered_client(
    db: Session,
    runtime: Runtime,
    actor: AdminScope,
    client_id: str,
    action: str,
    client: ClientInfo | None = None,
) -> OidcClient:
    """The client, if `actor` administers its organization; else refused and recorded."""
    oidc_client = get_client(db, client_id)
    ensure_administers(db, runtime, actor, oidc_client.organization_id, action, client)
    return oidc_client


@use_case
def revoke_client(
    db: Session,
    runtime: Runtime,
    client_id: str,
    actor: AdminScope,
    *,
    client: ClientInfo | None = None,
) -> OidcClient:
    """Revoke the application and every grant it holds, so its codes and tokens stop
    working at once. Revoking twice is refused with nothing changed."""
    oidc_client = administered_client(db, runtime, actor, client_id, "revoke_client", client)
    now = runtime.now()
    revoked = rows_affected(
        db,
        update(OidcClient)
        .where(OidcClient.id == oidc_client.id, OidcClient.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False),
    )
    if not revoked:
        db.refresh(oidc_client)
        raise InvalidInput("client", revoke_refusal(oidc_client) or words.NOT_APPLIED)
    db.refresh(oidc_client)
    grants_ended = oidc_grants.revoke_grants_where(
        db, OidcGrant.client_id == oidc_client.id, GRANT_REVOKED_REASON, now, client=client
    )
    organization = db.get(Organization, oidc_client.organization_id)
    assert organization is not None  # the foreign key cascades
    audit.record(
        db,
        now,
        AuditEventType.CLIENT_REVOKED,
        actor_id=actor.actor_id,
        organization_id=organization.id,
        client=client,
        client_id=oidc_client.client_id,
        application=oidc_client.name,
        grants_revoked=grants_ended,
    )
    _tell_admins(
        db, runtime, organization, "client_revoked", messages.client_revoked, oidc_client, actor
    )
    return oidc_client


@use_case
def rotate_secret(
    db: Session,
    runtime: Runtime,
    client_id: str,
    actor: AdminScope,
    *,
    client: ClientInfo | None = None,
) -> str:
    """A new secret for a confidential client, returned only here; the old one stops
    working at once. Refused for a public or a revoked client."""
    oidc_client = administered_client(db, runtime, actor, client_id, "rotate_client_secret", client)
    refusal = rotate_refusal(oidc_client)
    if refusal is not None:
        raise InvalidInput("client", refusal)
    secret = new_client_secret()
    oidc_client.secret_digest = token_digest(secret)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.CLIENT_SECRET_ROTATED,
        actor_id=actor.actor_id,
        organization_id=oidc_client.organization_id,
        client=client,
        client_id=oidc_client.client_id,
        application=oidc_client.name,
    )
    return secret


def revoke_refusal(oidc_client: OidcClient) -> Text | None:
    """None if the client may be revoked; else why not (it already is)."""
    if oidc_client.revoked_at is None:
        return None
    return _refusal(words.CLIENT_ALREADY_REVOKED, oidc_client)


def rotate_refusal(oidc_client: OidcClient) -> Text | None:
    """None if the client may get a new secret; else why not (revoked, or public)."""
    if oidc_client.revoked_at is not None:
        return _refusal(words.CLIENT_REVOKED_NO_NEW_SECRET, oidc_client)
    if oidc_client.is_public:
        return _refusal(words.CLIENT_IS_PUBLIC, oidc_client)
    return None


def _refusal(message: Msg, oidc_client: OidcClient) -> Text:
    return message(name=oidc_client.name, client_id=oidc_client.client_id)


def _tell_admins(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    kind: str,
    compose: Callable[[Words, str, str, str, str], Message],
    oidc_client: OidcClient,
    actor: AdminScope,
) -> None:
    """Queue the news to every active admin of the organization with a verified address."""
    url = f"{runtime.public_url()}/admin/applications?org={organization.slug}"
    message = compose(
        acted_by(actor), oidc_client.name, oidc_client.client_id, organization.name, url
    )
    notify_admins(db, runtime, organization.id, kind, message)


def find_active_client(db: Session, client_id: str) -> OidcClient | None:
    """The client with this id, unless revoked."""
    if not client_id or len(client_id) > 64:
        return None
    return db.scalar(
        select(OidcClient).where(OidcClient.client_id == client_id, OidcClient.revoked_at.is_(None))
    )


def get_client(db: Session, client_id: str) -> OidcClient:
    """The client with this id, revoked or not; NotFound otherwise."""
    client = db.scalar(select(OidcClient).where(OidcClient.client_id == client_id[:64]))
    if client is None:
        raise NotFound(words.NO_SUCH_CLIENT(client_id=client_id[:64]))
    return client


def client_secret_matches(client: OidcClient, secret: str) -> bool:
    """A confidential client's secret check, in constant time; a public client has none."""
    if client.secret_digest is None or not secret:
        return False
    return constant_time_equals(token_digest(secret), client.secret_digest)
