"""The keys that sign ID tokens (decision 0014).

One key per algorithm signs at any time: of the keys whose `activates_at` has passed, the
newest. Every key in the table is published in the JWKS until its `unpublish_at`, so a key
is known to clients before it signs and still known while tokens it signed are valid. The
private half is sealed with the key ring (context: the key's kid), like a TOTP secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from twofold.services.runtime import Runtime
from twofold.store.models import OidcSigningKey

RS256 = "RS256"
ES256 = "ES256"
ALGORITHMS = (RS256, ES256)  # RS256 first: the default every client supports

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


def new_key_row(runtime: Runtime, alg: str, *, activates_at: datetime) -> OidcSigningKey:
    """A fresh key of `alg`, sealed, as a row not yet added to a session. Its kid is the
    RFC 7638 thumbprint of the public key."""
    key = generate_key(alg)
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


def ensure_signing_keys(db: Session, runtime: Runtime) -> None:
    """Generate one key of each algorithm that has none yet (first start). Two servers
    starting together may both add one: both are published, the newer signs; no harm."""
    existing = set(db.scalars(select(OidcSigningKey.alg).distinct()))
    for alg in ALGORITHMS:
        if alg in existing:
            continue
        db.add(new_key_row(runtime, alg, activates_at=runtime.now()))
    db.commit()


def published_keys(db: Session, now: datetime) -> list[OidcSigningKey]:
    """The keys in the JWKS now: every key not yet unpublished, oldest first."""
    rows = db.scalars(
        select(OidcSigningKey)
        .where(or_(OidcSigningKey.unpublish_at.is_(None), OidcSigningKey.unpublish_at > now))
        .order_by(OidcSigningKey.created_at, OidcSigningKey.kid)
    )
    return list(rows)


def jwks(db: Session, now: datetime) -> dict[str, Any]:
    """The JSON Web Key Set document (public members only)."""
    return {"keys": [json.loads(row.public_jwk) for row in published_keys(db, now)]}


def active_key(db: Session, alg: str, now: datetime) -> OidcSigningKey | None:
    """The key that signs with `alg` now: the newest one already active."""
    return db.scalars(
        select(OidcSigningKey)
        .where(OidcSigningKey.alg == alg, OidcSigningKey.activates_at <= now)
        .order_by(OidcSigningKey.activates_at.desc(), OidcSigningKey.kid)
        .limit(1)
    ).first()


@dataclass(frozen=True)
class Signer:
    kid: str
    alg: str
    key: SigningKey

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": self.alg, "kid": self.kid, "typ": "JWT"}, claims, self.key)


def signer(db: Session, runtime: Runtime, alg: str = RS256) -> Signer:
    """What signs a token with `alg` now; generates the first keys if there are none."""
    row = active_key(db, alg, runtime.now())
    if row is None:
        ensure_signing_keys(db, runtime)
        row = active_key(db, alg, runtime.now())
        assert row is not None
    pem = runtime.keys.open(
        row.private_kid, row.private_sealed, context=private_key_context(row.kid)
    )
    key: SigningKey = RSAKey.import_key(pem) if row.alg == RS256 else ECKey.import_key(pem)
    return Signer(kid=row.kid, alg=row.alg, key=key)


def public_key_set(db: Session, now: datetime) -> KeySet:
    """The published keys as a joserfc KeySet, to verify a token we signed (id_token_hint)."""
    return KeySet.import_key_set(jwks(db, now))  # type: ignore[arg-type]
