"""Applications that sign their people in through Twofold (OpenID Connect clients).

Each belongs to one organization. A confidential client has a secret: 256 random bits,
shown once, kept only as its SHA-256 (it is high-entropy, like a link token). Redirect URIs
are matched exactly, never by prefix or wildcard; https only, except http on localhost.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import InvalidInput, NotFound
from twofold.crypto.tokens import constant_time_equals, token_digest
from twofold.services.organizations import get_organization
from twofold.services.runtime import Runtime
from twofold.services.transactions import use_case
from twofold.store.models import OidcClient, User

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> str:
    """The URI as given, if a client may register it; else InvalidInput."""
    refused = InvalidInput("redirect_uri", words.CLIENT_REDIRECT_URI_INVALID(uri=uri[:200]))
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


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


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
    created_by: User | None = None,
) -> CreatedClient:
    """Register an application for the organization; the secret is returned only here."""
    organization = get_organization(db, organization_slug)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name", words.CLIENT_NAME_REQUIRED)
    if not redirect_uris:
        raise InvalidInput("redirect_uri", words.CLIENT_REDIRECT_URI_REQUIRED)
    uris = list(dict.fromkeys(check_redirect_uri(u) for u in redirect_uris))
    logout_uris = list(
        dict.fromkeys(check_redirect_uri(u) for u in post_logout_redirect_uris or [])
    )
    secret = None if public else new_client_secret()
    client = OidcClient(
        client_id=secrets.token_urlsafe(18),
        organization_id=organization.id,
        name=name,
        secret_digest=None if secret is None else token_digest(secret),
        require_two_factor=require_two_factor,
        redirect_uris=json.dumps(uris),
        post_logout_redirect_uris=json.dumps(logout_uris),
        created_at=runtime.now(),
        created_by_id=created_by.id if created_by else None,
    )
    db.add(client)
    db.flush()
    return CreatedClient(client=client, secret=secret)


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
