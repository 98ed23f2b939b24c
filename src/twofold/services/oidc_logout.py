"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): an application asks Twofold
to end the person's session. Without a valid `id_token_hint` naming the signed-in person the
pages ask first, so a link on another site cannot sign anyone out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import OidcRefused
from twofold.services import audit, oidc_clients, signin, signing_keys
from twofold.services.oidc_flow import redirect_with
from twofold.services.oidc_grants import revoke_grant
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.models import AuthSession, OidcClient, OidcGrant, User

_MAX_HINT = 8000


@dataclass(frozen=True)
class LogoutRequest:
    client: OidcClient | None
    post_logout_redirect_uri: str | None
    state: str | None
    hint_names_session_user: bool  # a valid id_token_hint for the signed-in person

    def after_url(self) -> str | None:
        """Where the browser goes once signed out (the client's registered address)."""
        if self.post_logout_redirect_uri is None:
            return None
        return redirect_with(self.post_logout_redirect_uri, {"state": self.state})


def _hint_claims(db: Session, runtime: Runtime, hint: str) -> dict[str, Any] | None:
    """The claims of an ID token Twofold signed for this issuer (expired or not), else None."""
    if not hint or len(hint) > _MAX_HINT:
        return None
    try:
        token = jwt.decode(
            hint, signing_keys.public_key_set(db, runtime.now()), algorithms=["RS256", "ES256"]
        )
    except (JoseError, ValueError):
        return None
    claims = dict(token.claims)
    if claims.get("iss") != runtime.public_url():
        return None
    return claims


def check_logout(
    db: Session, runtime: Runtime, params: Mapping[str, str], session: AuthSession | None
) -> LogoutRequest:
    """The logout request, or OidcRefused (shown, never redirected) for an address the
    client did not register."""
    claims = _hint_claims(db, runtime, params.get("id_token_hint", ""))
    audience = claims.get("aud") if claims else None
    hinted_client = audience if isinstance(audience, str) else None
    client_id = params.get("client_id") or hinted_client or ""
    client = oidc_clients.find_active_client(db, client_id) if client_id else None
    if claims is not None and client is not None and hinted_client not in (None, client_id):
        claims = None  # a hint for another client than the one named
    uri = params.get("post_logout_redirect_uri") or None
    if uri is not None and (
        client is None or uri not in oidc_clients.post_logout_redirect_uris_of(client)
    ):
        raise OidcRefused("invalid_request", words.OIDC_POST_LOGOUT_REDIRECT_UNKNOWN)
    names_user = False
    if claims is not None and session is not None:
        user = db.get(User, session.user_id)
        names_user = user is not None and user.oidc_subject == claims.get("sub")
    state = params.get("state") or None
    return LogoutRequest(
        client=client,
        post_logout_redirect_uri=uri,
        state=state[:1000] if state else None,
        hint_names_session_user=names_user,
    )


@use_case
def sign_out(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    request: LogoutRequest,
    client_info: ClientInfo,
) -> None:
    """End the Twofold session and every grant it gave (their tokens stop working)."""
    now = runtime.now()
    grants = db.scalars(
        select(OidcGrant).where(OidcGrant.session_id == session.id, OidcGrant.revoked_at.is_(None))
    )
    for grant in list(grants):
        revoke_grant(db, grant, "signed_out", now, client_info)
    client = request.client
    audit.record(
        db,
        now,
        AuditEventType.OIDC_SIGNED_OUT,
        user_id=session.user_id,
        organization_id=client.organization_id if client else None,
        client=client_info,
        client_id=client.client_id if client else None,
    )
    signin.sign_out(db, runtime, session, client_info)
