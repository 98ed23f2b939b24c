"""The authorization step of OpenID Connect: check a client's request, decide what the person
must still do on Twofold's own pages, and issue the authorization code (decision 0015).

Every rule of signing in stays where it is (sign-in, second factor, policy, enrollment): this
module only asks `organizations.standing` what the session still owes, and adds what the
client asked for (a fresh sign-in, a second factor).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from twofold.core import oidc, words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import OidcRefused
from twofold.core.sessions import SessionState, amr_methods
from twofold.core.words import translate
from twofold.crypto.tokens import new_token, token_digest
from twofold.services import audit, oidc_clients, sign_in_steps
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.sign_in_steps import Step
from twofold.services.transactions import use_case
from twofold.store.models import (
    AuthSession,
    OidcAuthorizationCode,
    OidcClient,
    OidcGrant,
)

_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_MAX_STATE = 1000
_MAX_NONCE = 255
# Known prompt values; "consent" and "select_account" ask for nothing Twofold shows.
_PROMPTS = (oidc.PROMPT_NONE, oidc.PROMPT_LOGIN, "consent", "select_account")


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked authorization request, kept (sealed) while the person signs in."""

    client_id: str
    redirect_uri: str
    scope: str  # the granted scopes, space-separated
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: str | None
    max_age: int | None
    acr_values: str | None
    requested_at: int  # Unix time the request arrived

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuthorizationRequest:
        return cls(**json.loads(text))

    @property
    def requested_at_time(self) -> datetime:
        return datetime.fromtimestamp(self.requested_at, UTC)

    @property
    def wants_two_factor(self) -> bool:
        """acr_values asks for a second factor: mfa, or phr (which implies one)."""
        asked = (self.acr_values or "").split()
        return oidc.ACR_TWO_FACTOR in asked or self.wants_phishing_resistant

    @property
    def wants_phishing_resistant(self) -> bool:
        """acr_values asks for a security key or passkey (WebAuthn): acr phr."""
        return oidc.ACR_PHISHING_RESISTANT in (self.acr_values or "").split()

    def freshness(self) -> oidc.FreshnessDemand:
        return oidc.FreshnessDemand(
            requested_at=self.requested_at_time,
            prompt_login=oidc.PROMPT_LOGIN in (self.prompt or "").split(),
            max_age=self.max_age,
        )


def redirect_with(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """The client's redirect URI with `params` added to its query (RFC 6749 §4.1.2)."""
    parts = urlsplit(redirect_uri)
    added = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def error_redirect(error: OidcRefused) -> str:
    """Where a refusal that goes back to the client sends the browser."""
    assert error.redirect_uri is not None
    description = translate(error.message) if error.message is not None else None
    return redirect_with(
        error.redirect_uri,
        {"error": error.error, "error_description": description, "state": error.state},
    )


def check_request(
    db: Session, runtime: Runtime, params: Mapping[str, str]
) -> tuple[OidcClient, AuthorizationRequest]:
    """The client and the request, or OidcRefused: without `redirect_uri` for an unknown
    client or redirect URI (shown to the person), with it for everything else."""
    client = oidc_clients.find_active_client(db, params.get("client_id", ""))
    if client is None:
        raise OidcRefused("invalid_client", words.OIDC_UNKNOWN_CLIENT)
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in oidc_clients.redirect_uris_of(client):
        raise OidcRefused("invalid_request", words.OIDC_UNKNOWN_REDIRECT)
    state = params.get("state") or None

    def refused(error: str, message: words.Words) -> OidcRefused:
        return OidcRefused(error, message, redirect_uri=redirect_uri, state=state)

    if state is not None and len(state) > _MAX_STATE:
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="state"))
    if params.get("request") or params.get("request_uri"):
        raise refused("request_not_supported", words.OIDC_BAD_PARAMETER(name="request"))
    if params.get("response_type") != "code":
        raise refused("unsupported_response_type", words.OIDC_ONLY_CODE_FLOW)
    if params.get("response_mode", "query") != "query":
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="response_mode"))
    asked = params.get("scope", "").split()
    if oidc.SCOPE_OPENID not in asked:
        raise refused("invalid_scope", words.OIDC_OPENID_SCOPE_REQUIRED)
    challenge = params.get("code_challenge") or None
    method = params.get("code_challenge_method") or None
    if challenge is None:
        if client.is_public:
            raise refused("invalid_request", words.OIDC_PKCE_REQUIRED)
        if method is not None:
            raise refused("invalid_request", words.OIDC_MISSING_PARAMETER(name="code_challenge"))
    else:
        if method != "S256":
            raise refused("invalid_request", words.OIDC_PKCE_S256_ONLY)
        if not _CHALLENGE.fullmatch(challenge):
            raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="code_challenge"))
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > _MAX_NONCE:
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="nonce"))
    prompt = params.get("prompt") or None
    prompts = (prompt or "").split()
    if any(
        p not in (oidc.PROMPT_NONE, oidc.PROMPT_LOGIN, "consent", "select_account") for p in prompts
    ):
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="prompt"))
    if oidc.PROMPT_NONE in prompts and len(prompts) > 1:
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="prompt"))
    max_age_text = params.get("max_age")
    max_age = None
    if max_age_text:
        if not max_age_text.isdigit() or len(max_age_text) > 9:
            raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="max_age"))
        max_age = int(max_age_text)
    acr_values = params.get("acr_values") or None
    if acr_values is not None and len(acr_values) > 200:
        raise refused("invalid_request", words.OIDC_BAD_PARAMETER(name="acr_values"))
    request = AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(oidc.requested_scopes(" ".join(asked))),
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        prompt=prompt,
        max_age=max_age,
        acr_values=acr_values,
        requested_at=int(runtime.now().timestamp()),
    )
    return client, request


def client_of(db: Session, request: AuthorizationRequest) -> OidcClient:
    """The request's client, unless it was revoked since (then shown, never redirected)."""
    client = oidc_clients.find_active_client(db, request.client_id)
    if client is None:
        raise OidcRefused("invalid_client", words.OIDC_UNKNOWN_CLIENT)
    return client


def session_auth_time(session: AuthSession) -> datetime:
    """When the person really authenticated: the second factor, else the password step."""
    if session.second_factor_at is not None and oidc.has_second_factor(amr_methods(session.amr)):
        return session.second_factor_at
    return session.created_at


def requires_two_factor(client: OidcClient, request: AuthorizationRequest) -> bool:
    return client.require_two_factor or request.wants_two_factor


def asks_more_than_policy(client: OidcClient, request: AuthorizationRequest) -> bool:
    """Whether this request asks more than the organization's own 2FA policy: a second
    factor (the client's require-2FA, acr mfa), a phishing-resistant one (acr phr), or a
    fresh sign-in (prompt=login, max_age). A remembered browser is then not tried at the
    sign-in it leads to: the code is asked (decision 0028)."""
    freshness = request.freshness()
    return (
        requires_two_factor(client, request)
        or oidc.ACR_PHISHING_RESISTANT in (request.acr_values or "").split()
        or freshness.prompt_login
        or freshness.max_age is not None
    )


def needs_fresh_sign_in(
    runtime: Runtime, request: AuthorizationRequest, session: AuthSession | None
) -> bool:
    """Whether the sign-in page must be shown even though a session exists."""
    if session is None or session.state != SessionState.AUTHENTICATED:
        return False
    return oidc.needs_fresh_sign_in(session_auth_time(session), request.freshness(), runtime.now())


def next_step(
    db: Session,
    runtime: Runtime,
    client: OidcClient,
    request: AuthorizationRequest,
    session: AuthSession | None,
) -> Step:
    """What the person in `session` must still do for this request; the client's
    organization becomes the session's current one (see `sign_in_steps.step_for`)."""
    return sign_in_steps.step_for(
        db,
        runtime,
        session,
        organization_id=client.organization_id,
        two_factor_required=requires_two_factor(client, request),
        phishing_resistant_required=request.wants_phishing_resistant,
        make_current=True,
        needs_fresh_sign_in=lambda s: oidc.needs_fresh_sign_in(
            session_auth_time(s), request.freshness(), runtime.now()
        ),
    )


@dataclass(frozen=True)
class Denial:
    """Why the client gets an error instead of a code: the protocol error, what it says,
    and the reason the audit event records."""

    error: str
    message: words.Msg
    reason: str


NOT_A_MEMBER = Denial("access_denied", words.OIDC_NOT_A_MEMBER, "not_a_member")
TWO_FACTOR_DECLINED = Denial(
    "access_denied", words.OIDC_TWO_FACTOR_DECLINED, "two_factor_declined"
)  # "Not now" at the 2FA setup the client required
TWO_FACTOR_UNAVAILABLE = Denial(
    "access_denied", words.OIDC_TWO_FACTOR_UNAVAILABLE, "two_factor_unavailable"
)  # required, and the person's organization offers none
SECURITY_KEY_UNAVAILABLE = Denial(
    "access_denied", words.OIDC_SECURITY_KEY_UNAVAILABLE, "security_key_unavailable"
)  # acr phr asked, the person has no security key, and the organization offers none
LOGIN_REQUIRED = Denial("login_required", words.OIDC_LOGIN_REQUIRED, "login_required")
INTERACTION_REQUIRED = Denial(
    "interaction_required", words.OIDC_INTERACTION_REQUIRED, "interaction_required"
)


@use_case
def refuse(
    db: Session,
    runtime: Runtime,
    client: OidcClient,
    request: AuthorizationRequest,
    denial: Denial,
    session: AuthSession | None,
    client_info: ClientInfo,
) -> str:
    """Record the refusal; the URL that tells the client (error, state)."""
    audit.record(
        db,
        runtime.now(),
        AuditEventType.OIDC_SIGN_IN_REFUSED,
        user_id=session.user_id if session else None,
        organization_id=client.organization_id,
        client=client_info,
        client_id=client.client_id,
        reason=denial.reason,
    )
    return error_redirect(
        OidcRefused(
            denial.error, denial.message, redirect_uri=request.redirect_uri, state=request.state
        )
    )


def without_interaction(step: Step) -> Denial:
    """prompt=none and a page would be needed: what the client is told instead."""
    if step is Step.NOT_A_MEMBER:
        return NOT_A_MEMBER
    if step is Step.SIGN_IN:
        return LOGIN_REQUIRED
    return INTERACTION_REQUIRED


@use_case
def issue_code(
    db: Session,
    runtime: Runtime,
    client: OidcClient,
    request: AuthorizationRequest,
    session: AuthSession,
) -> str:
    """A grant for this sign-in and its single-use code (60 s); the URL back to the client."""
    now = runtime.now()
    methods = amr_methods(session.amr)
    acr = oidc.acr_claim(methods)
    auth_time = session_auth_time(session)
    offline = oidc.SCOPE_OFFLINE in request.scope.split()
    grant = OidcGrant(
        client_id=client.id,
        user_id=session.user_id,
        session_id=session.id,
        scope=request.scope,
        amr=" ".join(oidc.amr_claim(methods)),
        acr=acr,
        auth_time=auth_time,
        created_at=now,
        expires_at=auth_time + oidc.GRANT_MAX_AGE if offline else now + oidc.ACCESS_TOKEN_LIFETIME,
    )
    db.add(grant)
    db.flush()
    code = new_token()
    db.add(
        OidcAuthorizationCode(
            code_digest=token_digest(code),
            grant_id=grant.id,
            redirect_uri=request.redirect_uri,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            code_challenge_method="S256" if request.code_challenge else None,
            created_at=now,
            expires_at=now + oidc.CODE_LIFETIME,
        )
    )
    return redirect_with(request.redirect_uri, {"code": code, "state": request.state})
