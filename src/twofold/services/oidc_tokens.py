"""The token endpoint and userinfo: codes and refresh tokens for tokens, tokens for claims.

Codes and refresh tokens are single-use by one conditional UPDATE each (architecture.md);
one presented a second time revokes its whole grant, since one of the two holders is not the
client. A refusal is recorded in the audit log and leaves everything else as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core.util import create_half_hash
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twofold.core import oidc, words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import OidcRefused
from twofold.core.rate_limits import Scope
from twofold.core.words import Msg
from twofold.crypto.tokens import constant_time_equals, new_token, token_digest
from twofold.services import audit, oidc_clients, oidc_grants, signing_keys
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.sign_in_steps import is_member
from twofold.services.transactions import use_case
from twofold.services.users import subject_of
from twofold.store.db import rows_affected
from twofold.store.models import (
    Membership,
    OidcAuthorizationCode,
    OidcClient,
    OidcGrant,
    OidcToken,
    User,
)

ACCESS = "access"
REFRESH = "refresh"
_MAX_TOKEN = 128


@dataclass(frozen=True)
class ClientCredentials:
    """How the client authenticated at the token endpoint (RFC 6749 §2.3)."""

    client_id: str
    secret: str | None
    method: str  # client_secret_basic | client_secret_post | none


def _refuse(
    db: Session,
    runtime: Runtime,
    error: str,
    message: Msg,
    *,
    reason: str,
    client_info: ClientInfo,
    client: OidcClient | None = None,
    grant: OidcGrant | None = None,
    revoke: bool = False,
) -> NoReturn:
    """Undo what this request wrote, record the refusal (and revoke the grant when asked),
    commit that, and raise for the client."""
    db.rollback()
    now = runtime.now()
    if revoke and grant is not None:
        oidc_grants.revoke_grant(db, grant, reason, now, client_info)
    audit.record(
        db,
        now,
        AuditEventType.OIDC_TOKEN_REFUSED,
        user_id=grant.user_id if grant else None,
        organization_id=client.organization_id if client else None,
        client=client_info,
        client_id=client.client_id if client else None,
        reason=reason,
    )
    db.commit()
    raise OidcRefused(error, message)


def authenticate_client(
    db: Session, runtime: Runtime, credentials: ClientCredentials, client_info: ClientInfo
) -> OidcClient:
    """The client, if it proved who it is: a confidential client by its secret (basic or
    post), a public client by its id alone (PKCE then proves it started the flow). Its
    request is counted against the client's rate limit; a failed authentication against the
    address's (RequestRateLimited when over, decision 0023)."""
    client = oidc_clients.find_active_client(db, credentials.client_id)
    limits = runtime.request_limits
    if client is not None:
        secret = credentials.secret or ""
        if (client.is_public and credentials.method == "none") or (
            credentials.method != "none" and oidc_clients.client_secret_matches(client, secret)
        ):
            limits.check(Scope.OIDC_CLIENT, limits.claim_oidc_client(client.client_id))
            return client
    limits.check(Scope.ADDRESS, limits.claim_address(client_info.ip))
    _refuse(
        db,
        runtime,
        "invalid_client",
        words.OIDC_CLIENT_AUTHENTICATION_FAILED,
        reason="client_authentication_failed",
        client_info=client_info,
        client=client,
    )


def profile_claims(user: User, scopes: list[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if oidc.SCOPE_PROFILE in scopes:
        claims["preferred_username"] = user.login
        claims["name"] = user.login
    if oidc.SCOPE_EMAIL in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified_at is not None
    return claims


def _new_token(db: Session, grant: OidcGrant, kind: str, now: datetime, expires: datetime) -> str:
    value = new_token()
    db.add(
        OidcToken(
            token_digest=token_digest(value),
            grant_id=grant.id,
            kind=kind,
            created_at=now,
            expires_at=expires,
        )
    )
    return value


def _tokens(
    db: Session,
    runtime: Runtime,
    signer: signing_keys.Signer,
    client: OidcClient,
    grant: OidcGrant,
    user: User,
    nonce: str | None,
) -> dict[str, Any]:
    """A new access token, a refresh token when offline_access was granted, an ID token."""
    now = runtime.now()
    scopes = grant.scope.split()
    access = _new_token(db, grant, ACCESS, now, now + oidc.ACCESS_TOKEN_LIFETIME)
    claims: dict[str, Any] = {
        "iss": runtime.public_url(),
        "sub": subject_of(db, user),
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int((now + oidc.ID_TOKEN_LIFETIME).timestamp()),
        "auth_time": int(grant.auth_time.timestamp()),
        "acr": grant.acr,
        "amr": grant.amr.split(),
        "at_hash": create_half_hash(access, signer.alg).decode("ascii"),
        **profile_claims(user, scopes),
    }
    if nonce:
        claims["nonce"] = nonce
    response: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(oidc.ACCESS_TOKEN_LIFETIME.total_seconds()),
        "scope": grant.scope,
        "id_token": signer.sign(claims),
    }
    if oidc.SCOPE_OFFLINE in scopes:
        response["refresh_token"] = _new_token(db, grant, REFRESH, now, grant.expires_at)
    return response


def _still_allowed(db: Session, client: OidcClient, grant: OidcGrant, user: User | None) -> str:
    """Why the grant's person may no longer have tokens, or "" (checked at every use)."""
    if user is None or not user.is_active:
        return "account_inactive"
    if not is_member(db, user.id, client.organization_id):
        return "not_a_member"
    changed = user.credentials_changed_at
    if changed is not None and changed > grant.auth_time:
        return "credentials_changed"
    return ""


@use_case
def exchange_code(
    db: Session,
    runtime: Runtime,
    credentials: ClientCredentials,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
    client_info: ClientInfo,
) -> dict[str, Any]:
    """grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6)."""
    client = authenticate_client(db, runtime, credentials, client_info)
    # Before any write: it may create the first keys (and commit them).
    signer = signing_keys.signer(db, runtime, client.id_token_signed_response_alg)
    now = runtime.now()

    def refuse(message: Msg, reason: str, grant: OidcGrant | None = None, **kw: Any) -> NoReturn:
        _refuse(
            db,
            runtime,
            kw.pop("error", "invalid_grant"),
            message,
            reason=reason,
            client_info=client_info,
            client=client,
            grant=grant,
            **kw,
        )

    row = None
    if code and len(code) <= _MAX_TOKEN:
        row = db.scalar(
            select(OidcAuthorizationCode).where(
                OidcAuthorizationCode.code_digest == token_digest(code)
            )
        )
    grant = db.get(OidcGrant, row.grant_id) if row is not None else None
    if row is None or grant is None or grant.client_id != client.id:
        refuse(words.OIDC_INVALID_CODE, "unknown_code")
    if row.used_at is not None:
        refuse(words.OIDC_INVALID_CODE, "code_replayed", grant, revoke=True)
    if row.expires_at <= now:
        refuse(words.OIDC_INVALID_CODE, "code_expired", grant)
    if redirect_uri != row.redirect_uri:
        refuse(words.OIDC_REDIRECT_URI_MISMATCH, "redirect_uri_mismatch", grant)
    if row.code_challenge is not None:
        verifier = code_verifier or ""
        if (
            not verifier
            or len(verifier) > 128
            or not constant_time_equals(create_s256_code_challenge(verifier), row.code_challenge)
        ):
            refuse(words.OIDC_PKCE_MISMATCH, "pkce_mismatch", grant)
    elif code_verifier:
        refuse(words.OIDC_PKCE_MISMATCH, "pkce_unexpected", grant)
    consumed = rows_affected(
        db,
        update(OidcAuthorizationCode)
        .where(OidcAuthorizationCode.id == row.id, OidcAuthorizationCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if not consumed:  # another request used it a moment ago
        refuse(words.OIDC_INVALID_CODE, "code_replayed", grant, revoke=True)
    # Only now: a replay racing the first use may load the grant after another replay
    # revoked it, and must still be recorded as the replay it is.
    if grant.revoked_at is not None:
        refuse(words.OIDC_INVALID_CODE, "grant_revoked", grant)
    user = db.get(User, grant.user_id)
    if reason := _still_allowed(db, client, grant, user):
        refuse(words.OIDC_SIGN_IN_NO_LONGER_VALID, reason, grant, revoke=True)
    assert user is not None
    response = _tokens(db, runtime, signer, client, grant, user, row.nonce)
    audit.record(
        db,
        now,
        AuditEventType.OIDC_TOKEN_ISSUED,
        user_id=user.id,
        organization_id=client.organization_id,
        client=client_info,
        client_id=client.client_id,
        acr=grant.acr,
        amr=grant.amr,
        refresh="refresh_token" in response,
    )
    return response


@use_case
def refresh(
    db: Session,
    runtime: Runtime,
    credentials: ClientCredentials,
    *,
    refresh_token: str,
    client_info: ClientInfo,
) -> dict[str, Any]:
    """grant_type=refresh_token: the token is rotated; a used one revokes the grant; the
    account, the membership and the credentials are checked again each time."""
    client = authenticate_client(db, runtime, credentials, client_info)
    # Before any write: it may create the first keys (and commit them).
    signer = signing_keys.signer(db, runtime, client.id_token_signed_response_alg)
    now = runtime.now()

    def refuse(reason: str, grant: OidcGrant | None = None, revoke: bool = False) -> NoReturn:
        message = words.OIDC_INVALID_REFRESH_TOKEN
        if reason in ("account_inactive", "not_a_member", "credentials_changed"):
            message = words.OIDC_SIGN_IN_NO_LONGER_VALID
        _refuse(
            db,
            runtime,
            "invalid_grant",
            message,
            reason=reason,
            client_info=client_info,
            client=client,
            grant=grant,
            revoke=revoke,
        )

    row = None
    if refresh_token and len(refresh_token) <= _MAX_TOKEN:
        row = db.scalar(
            select(OidcToken).where(
                OidcToken.token_digest == token_digest(refresh_token), OidcToken.kind == REFRESH
            )
        )
    grant = db.get(OidcGrant, row.grant_id) if row is not None else None
    if row is None or grant is None or grant.client_id != client.id:
        refuse("unknown_refresh_token")
    if row.used_at is not None:
        refuse("refresh_token_reused", grant, revoke=True)
    consumed = rows_affected(
        db,
        update(OidcToken)
        .where(OidcToken.id == row.id, OidcToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if not consumed:  # another request used it a moment ago
        refuse("refresh_token_reused", grant, revoke=True)
    # After the UPDATE, as for codes: a reuse racing the rotation is recorded as a reuse.
    if grant.revoked_at is not None:
        refuse("grant_revoked", grant)
    if grant.expires_at <= now or row.expires_at <= now:
        refuse("grant_expired", grant)
    user = db.get(User, grant.user_id)
    if reason := _still_allowed(db, client, grant, user):
        refuse(reason, grant, revoke=True)
    assert user is not None
    response = _tokens(db, runtime, signer, client, grant, user, None)
    audit.record(
        db,
        now,
        AuditEventType.OIDC_TOKEN_REFRESHED,
        user_id=user.id,
        organization_id=client.organization_id,
        client=client_info,
        client_id=client.client_id,
    )
    return response


def userinfo(db: Session, runtime: Runtime, access_token: str) -> dict[str, Any]:
    """The claims an access token may read (OIDC Core §5.3); OidcRefused(invalid_token)
    for an unknown, expired or revoked one, or one whose person may no longer sign in or is
    no longer a member of the client's organization."""
    now = runtime.now()
    found = None
    if access_token and len(access_token) <= _MAX_TOKEN:
        still_member = (
            select(Membership.id)
            .where(
                Membership.user_id == User.id,
                Membership.organization_id == OidcClient.organization_id,
            )
            .exists()
        )
        found = db.execute(
            select(OidcGrant, User)
            .join(OidcToken, OidcToken.grant_id == OidcGrant.id)
            .join(User, User.id == OidcGrant.user_id)
            .join(OidcClient, OidcClient.id == OidcGrant.client_id)
            .where(
                OidcToken.token_digest == token_digest(access_token),
                OidcToken.kind == ACCESS,
                OidcToken.expires_at > now,
                OidcGrant.revoked_at.is_(None),
                User.is_active.is_(True),
                still_member,
            )
        ).first()
    if found is None:
        raise OidcRefused("invalid_token", words.OIDC_INVALID_ACCESS_TOKEN)
    grant, user = found
    subject = user.oidc_subject
    assert subject is not None  # given when the token was issued
    return {"sub": subject, **profile_claims(user, grant.scope.split())}
