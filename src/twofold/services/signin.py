"""The first step of sign-in: login name or email, and password."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidCredentials, PasswordAttemptsThrottled
from twofold.core.sessions import Method, SessionKind, SessionState
from twofold.core.validation import PASSWORD_MAX
from twofold.services import audit, metrics, remembered_browsers, sessions
from twofold.services.passwords import (
    check_password,
    claim_password_attempt,
    password_attempt_succeeded,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import (
    awaits_address_confirmation,
    find_by_login_or_email,
    has_two_factor,
)
from twofold.store.models import AuthSession, User


@dataclass(frozen=True)
class SignInStarted:
    session: AuthSession
    token: str
    needs_second_factor: bool
    # The browser's remember cookie, when one was offered: what it did (decision 0028).
    remembered: remembered_browsers.Use | None = None


@use_case
def sign_in_with_password(
    db: Session,
    runtime: Runtime,
    *,
    login: str,
    password: str,
    client: ClientInfo,
    previous_session_id: int | None = None,
    kind: SessionKind = SessionKind.BROWSER,
    organization_id: int | None = None,
    remembered: str | None = None,
) -> SignInStarted:
    """A person with 2FA on gets a password-only session that reaches only the code prompt;
    an unknown login costs a dummy hash so timing does not tell who exists. The page
    sign-in makes a browser session (a cookie), the API sign-in an API one (a bearer token;
    its password-only session is the API's short-lived `mfa_required` challenge).

    The session enters `organization_id` when it is one of the person's (else their first).
    A browser's remember cookie (`remembered`, given only where it may be tried) stands in
    for the code when the entered organization allows it (decision 0028): the session is
    then authenticated and verified for that organization only, its amr still `pwd`."""
    user = find_by_login_or_email(db, login)
    # One counter per account, whether the login name or the email address was typed.
    throttle_name = user.login if user is not None else login
    try:
        claim_password_attempt(db, runtime, throttle_name, client)  # commits: no lock while hashing
    except PasswordAttemptsThrottled:
        metrics.sign_in_password("throttled")
        raise
    usable = user is not None and user.is_active and not awaits_address_confirmation(user)
    correct = check_password(runtime, user.password_hash if user and usable else None, password)
    if user is None or not usable or not correct:
        audit.record(
            db,
            runtime.now(),
            AuditEventType.SIGN_IN_PASSWORD_FAILED,
            user_id=user.id if user else None,
            client=client,
            reason=_failure_reason(user),
        )
        db.commit()
        metrics.sign_in_password("refused")
        raise InvalidCredentials()

    if runtime.hasher.needs_rehash(user.password_hash):
        user.password_hash = runtime.hasher.hash(password[: PASSWORD_MAX + 1])
    password_attempt_succeeded(db, throttle_name, client)
    two_factor = has_two_factor(db, user.id)
    entering = _entered_organization(user, organization_id)
    use = None
    if two_factor and remembered is not None:
        use = remembered_browsers.use(db, runtime, user, remembered, entering, client)
    stood_in = use is not None and use.stood_in
    state = (
        SessionState.PASSWORD_VERIFIED
        if two_factor and not stood_in
        else SessionState.AUTHENTICATED
    )
    session, token = open_session(
        db,
        runtime,
        user,
        state,
        [Method.PASSWORD],
        client,
        previous_session_id=previous_session_id,
        kind=kind,
        organization_id=entering,
    )
    if stood_in and session.organization_id is not None:
        # The organization's own policy is satisfied here, and nowhere else: no second
        # factor in the amr, no second_factor_at (decision 0028).
        sessions.mark_verified(session, session.organization_id)
    if two_factor and not stood_in:
        db.commit()
        metrics.sign_in_password("ok")
        return SignInStarted(session=session, token=token, needs_second_factor=True, remembered=use)

    user.last_sign_in_at = runtime.now()
    audit.record(
        db,
        runtime.now(),
        AuditEventType.SIGN_IN_SUCCEEDED,
        user_id=user.id,
        client=client,
        amr=session.amr,
        **({"remembered_browser": True} if stood_in else {}),
    )
    db.commit()
    metrics.sign_in_password("ok")
    return SignInStarted(session=session, token=token, needs_second_factor=False, remembered=use)


def _entered_organization(user: User, organization_id: int | None) -> int | None:
    """The organization a sign-in enters: the one asked for (an application's) when the
    person is a member, else their first (as sessions.start_session chooses)."""
    ids = [m.organization_id for m in sorted(user.memberships, key=lambda m: m.id)]
    if organization_id is not None and organization_id in ids:
        return organization_id
    return ids[0] if ids else None


def open_session(
    db: Session,
    runtime: Runtime,
    user: User,
    state: SessionState,
    methods: list[Method],
    client: ClientInfo,
    *,
    previous_session_id: int | None = None,
    kind: SessionKind = SessionKind.BROWSER,
    organization_id: int | None = None,
) -> tuple[AuthSession, str]:
    """A new session after a first factor (the password, or a passkey's user verification),
    entering `organization_id` (None: the person's first), replacing the one this browser
    had."""
    session, token = sessions.start_session(
        db, runtime, user, state, methods, client, organization_id=organization_id, kind=kind
    )
    if previous_session_id is not None:
        sessions.replace_session(db, previous_session_id, session)
    return session, token


def _failure_reason(user: User | None) -> str:
    if user is None:
        return "unknown_login"
    if not user.is_active:
        return "deactivated"
    if awaits_address_confirmation(user):
        return "address_unconfirmed"
    return "wrong_password"


@use_case
def sign_out(db: Session, runtime: Runtime, session: AuthSession, client: ClientInfo) -> None:
    audit.record(
        db, runtime.now(), AuditEventType.SIGNED_OUT, user_id=session.user_id, client=client
    )
    sessions.end_session(db, session.id, runtime.now())
    db.commit()
