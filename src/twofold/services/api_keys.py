"""Organization API keys for the verify endpoint (decision 0017).

A key is 256 random bits, shown once, kept only as its SHA-256 (it is high-entropy: a
password hash would only slow every request). It answers only for members of its
organization. Its requests per minute are counted with the other request-rate limits
(services/rate_limits.py: in Redis when configured, decision 0023); its row keeps only when
it was last used, to the minute. Creating and revoking are audited and mailed to the
organization's admins (never with the key); who may do either is the admin scope's rule.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidInput, NotFound
from twofold.core.words import Text
from twofold.crypto.tokens import token_digest
from twofold.notify import messages
from twofold.services import audit, credential_names
from twofold.services.admin_scope import OPERATOR, AdminScope, acted_by, ensure_administers
from twofold.services.notifications import notify_admins
from twofold.services.organizations import get_organization
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.db import rows_affected
from twofold.store.models import ApiKey, Organization

KEY_PREFIX = "tfk_"  # lets secret scanners recognise a leaked key
DEFAULT_REQUESTS_PER_MINUTE = 60
MAX_REQUESTS_PER_MINUTE = 100_000
MAX_KEY_LENGTH = 128


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once


def new_key_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)  # 256 bits


@use_case
def create_key(
    db: Session,
    runtime: Runtime,
    organization_slug: str,
    *,
    name: str,
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE,
    actor: AdminScope = OPERATOR,
    client: ClientInfo | None = None,
) -> CreatedKey:
    """A new key for the organization; the key itself is returned only here. Refused (and
    recorded) unless `actor` administers the organization."""
    organization = get_organization(db, organization_slug)
    ensure_administers(db, runtime, actor, organization.id, "create_api_key", client)
    name = credential_names.checked_name(name, words.API_KEY_NAME_REQUIRED)
    taken = words.API_KEY_NAME_TAKEN(name=name)
    credential_names.ensure_free(db, ApiKey, organization.id, name, taken)
    if not 1 <= requests_per_minute <= MAX_REQUESTS_PER_MINUTE:
        raise InvalidInput(
            "requests_per_minute", words.API_KEY_RATE_INVALID(max=MAX_REQUESTS_PER_MINUTE)
        )
    secret = new_key_secret()
    now = runtime.now()
    key = ApiKey(
        organization_id=organization.id,
        name=name,
        key_digest=token_digest(secret),
        requests_per_minute=requests_per_minute,
        created_at=now,
        created_by_id=actor.actor_id,
    )
    credential_names.insert_named(db, key, taken)
    audit.record(
        db,
        now,
        AuditEventType.API_KEY_CREATED,
        actor_id=actor.actor_id,
        organization_id=organization.id,
        client=client,
        api_key_id=key.id,
        name=name,
    )
    _tell_admins(db, runtime, organization, key, actor, created=True)
    return CreatedKey(key=key, secret=secret)


def list_keys(db: Session, organization_slug: str) -> list[ApiKey]:
    """The organization's keys, revoked ones too, oldest first."""
    organization = get_organization(db, organization_slug)
    return list(
        db.scalars(
            select(ApiKey)
            .where(ApiKey.organization_id == organization.id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
    )


def get_key(db: Session, key_id: int) -> ApiKey:
    key = db.get(ApiKey, key_id) if 0 < key_id < 2**31 else None
    if key is None:
        raise NotFound(words.NO_SUCH_API_KEY(key_id=key_id))
    return key


def administered_key(
    db: Session,
    runtime: Runtime,
    actor: AdminScope,
    key_id: int,
    action: str,
    client: ClientInfo | None = None,
) -> ApiKey:
    """The key, if `actor` administers its organization; else refused and recorded."""
    key = get_key(db, key_id)
    ensure_administers(db, runtime, actor, key.organization_id, action, client)
    return key


@use_case
def revoke_key(
    db: Session,
    runtime: Runtime,
    key_id: int,
    actor: AdminScope = OPERATOR,
    *,
    client: ClientInfo | None = None,
) -> ApiKey:
    """Revoke the key: it stops working at once. Revoking twice is refused, nothing
    changed. Refused (and recorded) unless `actor` administers the key's organization."""
    key = administered_key(db, runtime, actor, key_id, "revoke_api_key", client)
    now = runtime.now()
    revoked = rows_affected(
        db,
        update(ApiKey)
        .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False),
    )
    db.refresh(key)
    if not revoked:
        raise InvalidInput("key", revoke_refusal(key) or words.NOT_APPLIED)
    organization = db.get(Organization, key.organization_id)
    assert organization is not None  # the foreign key cascades
    audit.record(
        db,
        now,
        AuditEventType.API_KEY_REVOKED,
        actor_id=actor.actor_id,
        organization_id=organization.id,
        client=client,
        api_key_id=key.id,
        name=key.name,
    )
    _tell_admins(db, runtime, organization, key, actor, created=False)
    return key


def revoke_refusal(key: ApiKey) -> Text | None:
    """None if the key may be revoked; else why not (it already is)."""
    if key.revoked_at is None:
        return None
    return words.API_KEY_ALREADY_REVOKED(name=key.name, key_id=key.id)


def find_active_key(db: Session, secret: str) -> ApiKey | None:
    """The unrevoked key whose SHA-256 this is, or None. A lookup by digest: the digest of a
    guess reveals nothing through timing."""
    if not secret or len(secret) > MAX_KEY_LENGTH:
        return None
    return db.scalar(
        select(ApiKey).where(ApiKey.key_digest == token_digest(secret), ApiKey.revoked_at.is_(None))
    )


LAST_USED_PRECISION = timedelta(minutes=1)


@use_case
def note_use(db: Session, runtime: Runtime, key: ApiKey) -> None:
    """Record when the key was last used, to the minute the console and the CLI show: a
    write at most once a minute per key, not one per request."""
    now = runtime.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_PRECISION:
        return
    db.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def _tell_admins(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    key: ApiKey,
    actor: AdminScope,
    *,
    created: bool,
) -> None:
    url = f"{runtime.public_url()}/admin/api-keys?org={organization.slug}"
    compose = messages.api_key_created if created else messages.api_key_revoked
    message = compose(acted_by(actor), key.name, key.id, organization.name, url)
    kind = "api_key_created" if created else "api_key_revoked"
    notify_admins(db, runtime, organization.id, kind, message)
