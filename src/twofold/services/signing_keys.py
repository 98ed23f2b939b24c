"""The keys that sign ID tokens (decision 0014).

One key per algorithm signs at any time: of the keys whose `activates_at` has passed, the
newest. Every key in the table is published in the JWKS until its `unpublish_at`, so a key
is known to clients before it signs and still known while tokens it signed are valid. The
private half is sealed with the key ring (context: the key's kid), like a TOTP secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from twofold.core import oidc
from twofold.core.audit_events import AuditEventType
from twofold.services import audit
from twofold.services.runtime import Runtime
from twofold.services.transactions import use_case
from twofold.store.db import end_reading
from twofold.store.models import OidcSigningKey

RS256 = "RS256"
ES256 = "ES256"
ALGORITHMS = (RS256, ES256)  # RS256 first: the default every client supports

# How long an ID token is valid. A key stays published this long after it stops signing,
# so every token it signed can still be verified until it expires.
ID_TOKEN_LIFETIME = oidc.ID_TOKEN_LIFETIME  # the flow signs for this long (core/oidc.py)

SigningKey = RSAKey | ECKey


def private_key_context(kid: str) -> bytes:
    """Associated data of a sealed private key: a sealed key copied to another row fails."""
    return f"oidc-signing-key:{kid}".encode()


def generate_key(alg: str) -> SigningKey:
    if alg == RS256:
        return RSAKey.generate_key(2048, private=True)
    if alg == ES256:
        return ECKey.generate_key("P-256", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


KeyGenerator = Callable[[str], SigningKey]


def new_key_row(
    runtime: Runtime, alg: str, *, activates_at: datetime, key: SigningKey | None = None
) -> OidcSigningKey:
    """A key of `alg` (fresh unless `key` is given: RSA generation is slow, so tests reuse
    theirs), sealed, as a row not yet added to a session. Its kid is the RFC 7638
    thumbprint of the public key."""
    key = key or generate_key(alg)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    private_kid, sealed = runtime.keys.seal(
        key.as_pem(private=True), context=private_key_context(kid)
    )
    return OidcSigningKey(
        kid=kid,
        alg=alg,
        public_jwk=json.dumps(public, sort_keys=True),
        private_kid=private_kid,
        private_sealed=sealed,
        created_at=runtime.now(),
        activates_at=activates_at,
    )


def is_published(now: datetime) -> ColumnElement[bool]:
    return or_(OidcSigningKey.unpublish_at.is_(None), OidcSigningKey.unpublish_at > now)


def ensure_signing_keys(
    db: Session, runtime: Runtime, *, generate: KeyGenerator = generate_key
) -> list[str]:
    """Generate a key for each algorithm that has none signing (first start), so the JWKS
    is never empty; returns the kids added. Two servers starting together may both add
    one: both are published, the newer signs; no harm."""
    missing = [alg for alg in ALGORITHMS if active_key(db, alg, runtime.now()) is None]
    if not missing:
        return []
    end_reading(db)  # RSA generation takes a while: hold no write lock meanwhile
    rows = [
        new_key_row(runtime, alg, activates_at=runtime.now(), key=generate(alg)) for alg in missing
    ]
    db.add_all(rows)
    db.commit()
    return [row.kid for row in rows]


def published_keys(db: Session, now: datetime) -> list[OidcSigningKey]:
    """The keys in the JWKS now: every key not yet unpublished, oldest first."""
    rows = db.scalars(
        select(OidcSigningKey)
        .where(is_published(now))
        .order_by(OidcSigningKey.created_at, OidcSigningKey.id)
    )
    return list(rows)


def jwks(db: Session, now: datetime) -> dict[str, Any]:
    """The JSON Web Key Set document (public members only)."""
    return {"keys": [json.loads(row.public_jwk) for row in published_keys(db, now)]}


def active_key(db: Session, alg: str, now: datetime) -> OidcSigningKey | None:
    """The key that signs with `alg` now: of the published keys already active, the one
    added last (a rotation supersedes every key added before it, even one scheduled to
    activate later)."""
    return db.scalars(
        select(OidcSigningKey)
        .where(
            OidcSigningKey.alg == alg,
            OidcSigningKey.activates_at <= now,
            is_published(now),
        )
        .order_by(OidcSigningKey.created_at.desc(), OidcSigningKey.id.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    key: SigningKey

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": self.alg, "kid": self.kid, "typ": "JWT"}, claims, self.key)


# Opened keys, by (kid, key-ring key id it is sealed under): unsealing and importing an RSA
# key took ~40 ms, most of a code exchange (docs/benchmarks.md). A kid is the key's own
# thumbprint, so an entry never goes stale; a re-seal gives a new entry.
_OPENED: dict[tuple[str, str], Signer] = {}


def signer(db: Session, runtime: Runtime, alg: str = RS256) -> Signer:
    """What signs a token with `alg` now; generates the first keys if there are none."""
    row = active_key(db, alg, runtime.now())
    if row is None:
        ensure_signing_keys(db, runtime)
        row = active_key(db, alg, runtime.now())
        assert row is not None
    opened = _OPENED.get((row.kid, row.private_kid))
    if opened is not None:
        return opened
    pem = runtime.keys.open(
        row.private_kid, row.private_sealed, context=private_key_context(row.kid)
    )
    key: SigningKey = RSAKey.import_key(pem) if row.alg == RS256 else ECKey.import_key(pem)
    opened = _OPENED[(row.kid, row.private_kid)] = Signer(kid=row.kid, alg=row.alg, key=key)
    return opened


def public_key_set(db: Session, now: datetime) -> KeySet:
    """The published keys as a joserfc KeySet, to verify a token we signed (id_token_hint)."""
    return KeySet.import_key_set(jwks(db, now))  # type: ignore[arg-type]


@dataclass(frozen=True)
class AddedKey:
    kid: str
    alg: str
    activates_at: datetime


@dataclass(frozen=True)
class RetiringKey:
    kid: str
    alg: str
    unpublish_at: datetime


@dataclass(frozen=True)
class Rotation:
    added: list[AddedKey]
    retiring: list[RetiringKey]  # the keys whose unpublish_at this rotation set or brought forward


@use_case
def rotate_signing_keys(
    db: Session,
    runtime: Runtime,
    *,
    activate_after: timedelta,
    generate: KeyGenerator = generate_key,
) -> Rotation:
    """For each algorithm: a new key, published now, signing from now + `activate_after`;
    every older key of that algorithm stays published until the new one has signed for
    ID_TOKEN_LIFETIME (until then, a token an older key signed may still be presented)."""
    fresh = {alg: generate(alg) for alg in ALGORITHMS}  # slow: before any write lock
    now = runtime.now()
    scheduled = now + max(activate_after, timedelta(0))
    added: list[AddedKey] = []
    retiring: list[RetiringKey] = []
    for alg in ALGORITHMS:
        # With nothing signing yet there is no client to keep working: sign at once.
        activates_at = scheduled if active_key(db, alg, now) is not None else now
        unpublish_at = activates_at + ID_TOKEN_LIFETIME
        older = db.scalars(
            select(OidcSigningKey)
            .where(OidcSigningKey.alg == alg, is_published(now))
            .order_by(OidcSigningKey.created_at, OidcSigningKey.id)
        )
        for row in older:
            if row.unpublish_at is None or row.unpublish_at > unpublish_at:
                row.unpublish_at = unpublish_at
                retiring.append(RetiringKey(kid=row.kid, alg=alg, unpublish_at=unpublish_at))
        row = new_key_row(runtime, alg, activates_at=activates_at, key=fresh[alg])
        db.add(row)
        added.append(AddedKey(kid=row.kid, alg=alg, activates_at=activates_at))
    db.flush()
    audit.record(
        db,
        now,
        AuditEventType.SIGNING_KEYS_ROTATED,
        added=" ".join(f"{key.alg}:{key.kid}" for key in added),
        activates_at=max(key.activates_at for key in added).isoformat(),
        retiring=" ".join(f"{key.alg}:{key.kid}" for key in retiring),
    )
    return Rotation(added=added, retiring=retiring)


class KeyState(StrEnum):
    NEXT = "next"  # published, will sign once it activates
    SIGNING = "signing"
    PUBLISHED_ONLY = "published-only"  # verifies tokens it signed; signs no more (or never)
    UNPUBLISHED = "unpublished"  # out of the JWKS; the purge deletes it


@dataclass(frozen=True)
class KeyListing:
    kid: str
    alg: str
    state: KeyState
    created_at: datetime
    activates_at: datetime
    unpublish_at: datetime | None


def list_signing_keys(db: Session, now: datetime) -> list[KeyListing]:
    """Every signing key with its state now, oldest first per algorithm."""
    rows = list(
        db.scalars(
            select(OidcSigningKey).order_by(
                OidcSigningKey.alg.desc(), OidcSigningKey.created_at, OidcSigningKey.id
            )
        )
    )
    signing = {alg: active_key(db, alg, now) for alg in ALGORITHMS}
    listing = []
    for index, row in enumerate(rows):
        later = [r for r in rows[index + 1 :] if r.alg == row.alg]
        if row.unpublish_at is not None and row.unpublish_at <= now:
            state = KeyState.UNPUBLISHED
        elif signing.get(row.alg) is row:
            state = KeyState.SIGNING
        elif row.activates_at > now and all(r.activates_at > row.activates_at for r in later):
            state = KeyState.NEXT  # no key added after it activates first and supersedes it
        else:
            state = KeyState.PUBLISHED_ONLY
        listing.append(
            KeyListing(
                kid=row.kid,
                alg=row.alg,
                state=state,
                created_at=row.created_at,
                activates_at=row.activates_at,
                unpublish_at=row.unpublish_at,
            )
        )
    return listing
