"""The OpenID Provider's endpoints: discovery, keys, authorize, token, userinfo, logout.

The person signs in on Twofold's own pages: /oidc/authorize keeps the client's request in a
sealed cookie (pending.py) and sends them there; the sign-in pages come back to
/oidc/continue. The last step back to the client after a form is a page that moves on by
itself (see `_onward`), because Chromium checks a form's redirects against `form-action`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response

from twofold.core import oidc, words
from twofold.core.errors import OidcRefused, RequestRateLimited
from twofold.core.rate_limits import Scope
from twofold.core.words import Words, translate
from twofold.oidc import pending
from twofold.services import oidc_flow, oidc_logout, oidc_tokens, signing_keys
from twofold.services.oidc_flow import AuthorizationRequest
from twofold.services.oidc_tokens import ClientCredentials
from twofold.services.sign_in_steps import Step
from twofold.store.models import OidcClient, User
from twofold.web.deps import (
    ADD_PASSKEY_PAGE,
    CODE_PAGE,
    PASSKEY_PAGE,
    SETUP_PAGE,
    ClientDep,
    DbDep,
    OptionalSession,
    RuntimeDep,
    csrf_exempt,
    writes_on_get,
)
from twofold.web.rendering import clear_session_cookie, redirect, render

router = APIRouter()

AUTHORIZE = "/oidc/authorize"
TOKEN = "/oidc/token"  # noqa: S105 - a path
USERINFO = "/oidc/userinfo"
JWKS = "/oidc/jwks"
END_SESSION = "/oidc/logout"
CONTINUE = "/oidc/continue"
# The sign-in page, shown even to a signed-in person: the client wants a new sign-in.
SIGN_IN_AGAIN = "/login?oidc=1"

_NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Public and the same for everyone: clients may keep them a few minutes (a new signing key
# is published a day before it signs, decision 0014).
_CACHE_PUBLIC = {"Cache-Control": "public, max-age=300"}


def metadata(issuer: str) -> dict[str, Any]:
    """The discovery document (OpenID Connect Discovery 1.0 §3)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZE,
        "token_endpoint": issuer + TOKEN,
        "userinfo_endpoint": issuer + USERINFO,
        "jwks_uri": issuer + JWKS,
        "end_session_endpoint": issuer + END_SESSION,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(signing_keys.ALGORITHMS),
        "scopes_supported": list(oidc.SCOPES),
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "at_hash",
            "preferred_username",
            "name",
            "email",
            "email_verified",
        ],
        "acr_values_supported": list(oidc.ACR_VALUES),
        "prompt_values_supported": [oidc.PROMPT_NONE, oidc.PROMPT_LOGIN],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


@router.get("/.well-known/openid-configuration")
def discovery(runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(metadata(runtime.public_url()), headers=_CACHE_PUBLIC)


@router.get(JWKS)
def jwks(db: DbDep, runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(signing_keys.jwks(db, runtime.now()), headers=_CACHE_PUBLIC)


def _shown_refusal(request: Request, error: OidcRefused) -> Response:
    """An unknown client or redirect URI: said to the person, never sent anywhere."""
    return render(
        request,
        "error.html",
        status_code=400,
        title=words.TITLE_APPLICATION_SIGN_IN,
        message=error.words_for(),
    )


def _single_params(request: Request) -> dict[str, str] | None:
    """The query's parameters, or None when one is repeated (RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            return None
        params[name] = value
    return params


@router.get(AUTHORIZE)
@writes_on_get
def authorize(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    session: OptionalSession,
) -> Response:
    params = _single_params(request)
    if params is None:
        error = OidcRefused("invalid_request", words.OIDC_BAD_PARAMETER(name="(repeated)"))
        return _shown_refusal(request, error)
    try:
        client, auth_request = oidc_flow.check_request(db, runtime, params)
    except OidcRefused as exc:
        if exc.redirect_uri is None:
            return _shown_refusal(request, exc)
        return redirect(oidc_flow.error_redirect(exc))
    return _proceed(request, db, runtime, client_info, client, auth_request, session, False)


@router.get(CONTINUE)
@writes_on_get
def resume(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    session: OptionalSession,
) -> Response:
    """Where the sign-in pages come back to while an application's request is pending."""
    auth_request = pending.load(request)
    response: Response
    if auth_request is None:
        response = redirect("/")
        pending.clear(request, response)
        return response
    try:
        client = oidc_flow.client_of(db, auth_request)
    except OidcRefused as exc:
        response = _shown_refusal(request, exc)
        pending.clear(request, response)
        return response
    return _proceed(request, db, runtime, client_info, client, auth_request, session, True)


@router.get(pending.DECLINE)
@writes_on_get
def decline(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    session: OptionalSession,
) -> Response:
    """ "Not now" at a 2FA setup an application required: it gets access_denied."""
    auth_request = pending.load(request)
    if auth_request is None:
        return redirect("/account/security")
    try:
        client = oidc_flow.client_of(db, auth_request)
    except OidcRefused as exc:
        response = _shown_refusal(request, exc)
        pending.clear(request, response)
        return response
    url = oidc_flow.refuse(
        db, runtime, client, auth_request, oidc_flow.TWO_FACTOR_DECLINED, session, client_info
    )
    response = redirect(url)
    pending.clear(request, response)
    return response


def _onward(request: Request, client: OidcClient, url: str, after_form: bool) -> Response:
    """Back to the client. After a form (the sign-in pages), a page that moves on by itself:
    Chromium applies the form's `form-action 'self'` to every redirect that follows it, so
    an HTTP redirect to the client's origin would be blocked there."""
    response: Response
    if after_form:
        response = render(request, "oidc_onward.html", target=url, application=client.name)
    else:
        response = redirect(url)
    pending.clear(request, response)
    return response


def _proceed(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    client: OidcClient,
    auth_request: AuthorizationRequest,
    session: OptionalSession,
    after_form: bool,
) -> Response:
    step = oidc_flow.next_step(db, runtime, client, auth_request, session)
    if step is Step.ISSUE:
        assert session is not None
        url = oidc_flow.issue_code(db, runtime, client, auth_request, session)
        return _onward(request, client, url, after_form)
    if step in (Step.TWO_FACTOR_UNAVAILABLE, Step.SECURITY_KEY_UNAVAILABLE):
        denial = (
            oidc_flow.TWO_FACTOR_UNAVAILABLE
            if step is Step.TWO_FACTOR_UNAVAILABLE
            else oidc_flow.SECURITY_KEY_UNAVAILABLE
        )
        url = oidc_flow.refuse(db, runtime, client, auth_request, denial, session, client_info)
        return _onward(request, client, url, after_form)
    if oidc.PROMPT_NONE in (auth_request.prompt or "").split():
        denial = oidc_flow.without_interaction(step)
        url = oidc_flow.refuse(db, runtime, client, auth_request, denial, session, client_info)
        return _onward(request, client, url, after_form)
    if step is Step.NOT_A_MEMBER:
        denial = oidc_flow.NOT_A_MEMBER
        url = oidc_flow.refuse(db, runtime, client, auth_request, denial, session, client_info)
        user = db.get(User, session.user_id) if session else None
        response = render(
            request,
            "oidc_not_member.html",
            status_code=403,
            title=words.TITLE_NOT_FOR_YOU,
            application=client.name,
            login=user.login if user else "",
            back=url,
        )
        pending.clear(request, response)
        return response
    target = {
        Step.SIGN_IN: SIGN_IN_AGAIN,
        Step.SECOND_FACTOR: CODE_PAGE,
        Step.ENROLL: SETUP_PAGE,
        Step.SECURITY_KEY: PASSKEY_PAGE,
        Step.ADD_SECURITY_KEY: ADD_PASSKEY_PAGE,
    }[step]
    onward = redirect(target)
    pending.store(request, onward, auth_request)
    return onward


# --- token endpoint ------------------------------------------------------------------------


def _protocol_error(error: OidcRefused, status: int = 400) -> JSONResponse:
    body = {"error": error.error}
    if error.message is not None:
        body["error_description"] = translate(error.message)
    headers = dict(_NO_CACHE)
    if error.error == "invalid_client":
        status = 401
        headers["WWW-Authenticate"] = 'Basic realm="twofold"'
    return JSONResponse(body, status_code=status, headers=headers)


def rate_limited(retry_after: int, message: Words) -> JSONResponse:
    """429 in the token endpoint's error shape (RFC 6749 §5.2; `slow_down` as RFC 8628
    registers it for a client that asks too often)."""
    body = {"error": "slow_down", "error_description": translate(message)}
    headers = {**_NO_CACHE, "Retry-After": str(max(1, retry_after))}
    return JSONResponse(body, status_code=429, headers=headers)


def _credentials(request: Request, client_id: str, client_secret: str) -> ClientCredentials | None:
    """client_secret_basic (the header; RFC 6749 §2.3.1 form-encodes both parts),
    client_secret_post, or none; None for a malformed header or two methods at once."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or client_secret:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep or (client_id and unquote(user) != client_id):
            return None
        return ClientCredentials(unquote(user), unquote(password), "client_secret_basic")
    if client_secret:
        return ClientCredentials(client_id, client_secret, "client_secret_post")
    return ClientCredentials(client_id, None, "none")


@router.post(TOKEN)
@csrf_exempt("the client authenticates with its secret or PKCE, never with a cookie")
def token(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    grant_type: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    redirect_uri: Annotated[str, Form()] = "",
    code_verifier: Annotated[str, Form()] = "",
    refresh_token: Annotated[str, Form()] = "",
    client_id: Annotated[str, Form()] = "",
    client_secret: Annotated[str, Form()] = "",
) -> Response:
    credentials = _credentials(request, client_id, client_secret)
    try:
        if credentials is None:
            limits = runtime.request_limits
            limits.check(Scope.ADDRESS, limits.claim_address(client_info.ip))
            raise OidcRefused("invalid_client", words.OIDC_CLIENT_AUTHENTICATION_FAILED)
        if grant_type == "authorization_code":
            body = oidc_tokens.exchange_code(
                db,
                runtime,
                credentials,
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier or None,
                client_info=client_info,
            )
        elif grant_type == "refresh_token":
            body = oidc_tokens.refresh(
                db, runtime, credentials, refresh_token=refresh_token, client_info=client_info
            )
        else:
            raise OidcRefused("unsupported_grant_type", words.OIDC_UNSUPPORTED_GRANT_TYPE)
    except OidcRefused as exc:
        return _protocol_error(exc)
    except RequestRateLimited as exc:
        return rate_limited(exc.retry_after_seconds, exc.words_for())
    return JSONResponse(body, headers=_NO_CACHE)


# --- userinfo ------------------------------------------------------------------------------


def _bearer(request: Request, form_token: str = "") -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return form_token


def _userinfo(request: Request, db: DbDep, runtime: RuntimeDep, access_token: str) -> Response:
    try:
        claims = oidc_tokens.userinfo(db, runtime, access_token)
    except OidcRefused as exc:
        description = translate(exc.words_for())
        return JSONResponse(
            {"error": exc.error, "error_description": description},
            status_code=401,
            headers={"WWW-Authenticate": f'Bearer error="{exc.error}"', **_NO_CACHE},
        )
    return JSONResponse(claims, headers=_NO_CACHE)


@router.get(USERINFO)
def userinfo(request: Request, db: DbDep, runtime: RuntimeDep) -> Response:
    return _userinfo(request, db, runtime, _bearer(request))


@router.post(USERINFO)
@csrf_exempt("the caller authenticates with a bearer access token, never with a cookie")
def userinfo_post(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    access_token: Annotated[str, Form()] = "",
) -> Response:
    return _userinfo(request, db, runtime, _bearer(request, access_token))


# --- RP-initiated logout -------------------------------------------------------------------


def _signed_out(request: Request, after: str | None, after_form: bool) -> Response:
    response: Response
    if after is None:
        response = redirect("/login?notice=signed_out")
    elif after_form:
        response = render(request, "oidc_onward.html", target=after, application=None)
    else:
        response = redirect(after)
    clear_session_cookie(request, response)
    return response


@router.get(END_SESSION)
@writes_on_get
def end_session(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    session: OptionalSession,
) -> Response:
    params = _single_params(request) or {}
    try:
        logout = oidc_logout.check_logout(db, runtime, params, session)
    except OidcRefused as exc:
        return _shown_refusal(request, exc)
    if session is None:
        return _signed_out(request, logout.after_url(), False)
    if not logout.hint_names_session_user:
        return render(
            request,
            "oidc_logout.html",
            application=logout.client.name if logout.client else None,
            client_id=logout.client.client_id if logout.client else "",
            post_logout_redirect_uri=logout.post_logout_redirect_uri or "",
            state=logout.state or "",
        )
    oidc_logout.sign_out(db, runtime, session, logout, client_info)
    return _signed_out(request, logout.after_url(), False)


@router.post(END_SESSION)
def end_session_confirmed(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client_info: ClientDep,
    session: OptionalSession,
    client_id: Annotated[str, Form()] = "",
    post_logout_redirect_uri: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
) -> Response:
    """The person confirmed on the page (the form carries its CSRF token)."""
    params = {
        "client_id": client_id,
        "post_logout_redirect_uri": post_logout_redirect_uri,
        "state": state,
    }
    try:
        logout = oidc_logout.check_logout(db, runtime, params, session)
    except OidcRefused as exc:
        return _shown_refusal(request, exc)
    if session is not None:
        oidc_logout.sign_out(db, runtime, session, logout, client_info)
    return _signed_out(request, logout.after_url(), True)
