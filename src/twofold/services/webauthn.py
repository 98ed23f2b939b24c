"""Security keys and passkeys (WebAuthn, decision 0027): adding one, using one as the second
factor, and signing in with a passkey alone. py_webauthn does the ceremonies; the rules
(policy, amr, cloned keys) are core/webauthn's; single use is the challenge row's.

A challenge is kept only as its SHA-256, bound to the session that asked for it (or, before
a session exists, to a random cookie's digest), for 5 minutes, and used up by ONE
conditional UPDATE before the answer is judged: of two requests with the same answer, one
gets on. A refused answer leaves its challenge used and an audit event behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    NotFound,
    PasskeyAlreadyRegistered,
    PasskeyChallengeExpired,
    PasskeyRefused,
    PasskeysNotAllowed,
    PasswordlessNotAllowed,
    SecondFactorLocked,
    SignCountRegressed,
    TwoFactorNotEnabled,
    UnknownPasskey,
)
from twofold.core.methods import ensure_removable, ensure_room_for_another
from twofold.core.oidc import is_phishing_resistant
from twofold.core.policy import PasskeyPolicy
from twofold.core.sessions import Method, SessionState, amr_methods
from twofold.core.webauthn import (
    CHALLENGE_BYTES,
    CHALLENGE_SECONDS,
    MAX_RESPONSE_CHARS,
    accepted_in,
    ensure_sign_count_advances,
    method_of,
    passkey_name,
    passwordless_allowed,
)
from twofold.crypto.tokens import new_token
from twofold.notify import messages
from twofold.services import audit, metrics, second_factor, signin
from twofold.services.account import confirm_current_password
from twofold.services.notifications import notify
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import (
    PASSKEY_KIND,
    MethodView,
    awaits_address_confirmation,
    confirmed_count,
    mark_credentials_changed,
    second_factor_count,
    subject_of,
)
from twofold.store.db import rows_affected
from twofold.store.models import (
    AuthSession,
    Membership,
    Organization,
    User,
    WebAuthnChallenge,
    WebAuthnCredential,
)

REGISTER = "register"
SECOND_FACTOR = "second_factor"
PASSWORDLESS = "passwordless"
# Long enough for a person to find their key and touch it; the challenge lives 5 minutes.
CEREMONY_TIMEOUT_MS = 120_000


# -- Reading an answer ---------------------------------------------------------------------


def _b64url(text: object) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_RESPONSE_CHARS:
        raise PasskeyRefused()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PasskeyRefused() from None


def parse_response(raw: str) -> dict[str, Any]:
    """The browser's answer (PublicKeyCredential as JSON), or PasskeyRefused when it is
    empty, too large or not an object: said plainly, nothing looked up."""
    if not raw or len(raw) > MAX_RESPONSE_CHARS:
        raise PasskeyRefused()
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise PasskeyRefused() from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("response"), dict):
        raise PasskeyRefused()
    return parsed


def _challenge_of(credential: dict[str, Any]) -> bytes:
    """The challenge the browser signed, read from clientDataJSON: it finds the stored row
    (only its digest is kept), and py_webauthn then checks it is the one signed."""
    try:
        client_data = json.loads(_b64url(credential["response"].get("clientDataJSON")))
    except ValueError:
        raise PasskeyRefused() from None
    if not isinstance(client_data, dict):
        raise PasskeyRefused()
    challenge = _b64url(client_data.get("challenge"))
    if len(challenge) != CHALLENGE_BYTES:
        raise PasskeyChallengeExpired()
    return challenge


def _raw_id(credential: dict[str, Any]) -> bytes:
    raw = _b64url(credential.get("rawId") or credential.get("id"))
    if not raw or len(raw) > 1023:
        raise PasskeyRefused()
    return raw


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


# -- Challenges ----------------------------------------------------------------------------


def _new_challenge(
    db: Session,
    runtime: Runtime,
    purpose: str,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
    binding: str | None = None,
) -> bytes:
    now = runtime.now()
    # Expired challenges go as new ones are made: the table holds minutes of them at most.
    db.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    db.add(
        WebAuthnChallenge(
            purpose=purpose,
            challenge_digest=_digest(challenge),
            user_id=user_id,
            session_id=session_id,
            binding_digest=_digest(binding.encode()) if binding is not None else None,
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_SECONDS),
        )
    )
    db.flush()
    return challenge


def _consume_challenge(
    db: Session,
    runtime: Runtime,
    challenge: bytes,
    purpose: str,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
    binding: str | None = None,
) -> None:
    """Use the challenge up: ONE conditional UPDATE (unused, live, this purpose, bound to
    this session or cookie) whose row count decides; PasskeyChallengeExpired otherwise."""
    now = runtime.now()
    conditions = [
        WebAuthnChallenge.challenge_digest == _digest(challenge),
        WebAuthnChallenge.purpose == purpose,
        WebAuthnChallenge.used_at.is_(None),
        WebAuthnChallenge.expires_at > now,
    ]
    if user_id is not None:
        conditions.append(WebAuthnChallenge.user_id == user_id)
    if session_id is not None:
        conditions.append(WebAuthnChallenge.session_id == session_id)
    if binding is not None:
        conditions.append(WebAuthnChallenge.binding_digest == _digest(binding.encode()))
    if session_id is None and binding is None:
        raise PasskeyChallengeExpired()  # a challenge is always bound to something
    used = rows_affected(
        db,
        update(WebAuthnChallenge)
        .where(*conditions)
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if used != 1:
        raise PasskeyChallengeExpired()


def new_binding() -> str:
    """The random value of the cookie a passwordless challenge is bound to."""
    return new_token()


# -- Policy --------------------------------------------------------------------------------


def _organization_policy(db: Session, organization_id: int | None) -> str | None:
    if organization_id is None:
        return None
    return db.scalar(select(Organization.passkeys).where(Organization.id == organization_id))


def accepted_for(db: Session, session: AuthSession) -> bool:
    """Whether keys are offered and accepted in the session's current organization."""
    return accepted_in(_organization_policy(db, session.organization_id))


def _ensure_accepted(db: Session, session: AuthSession) -> None:
    if not accepted_for(db, session):
        raise PasskeysNotAllowed()


def _membership_policies(db: Session, user_id: int) -> list[str]:
    return list(
        db.scalars(
            select(Organization.passkeys)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user_id)
        )
    )


def passwordless_anywhere(db: Session) -> bool:
    """Whether any organization allows passwordless sign-in: only then does the login page
    offer "Sign in with a passkey" (and its autofill)."""
    return (
        db.scalar(
            select(Organization.id)
            .where(Organization.passkeys == PasskeyPolicy.PASSWORDLESS.value)
            .limit(1)
        )
        is not None
    )


def credentials_of(db: Session, user_id: int) -> list[WebAuthnCredential]:
    return list(
        db.scalars(
            select(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id)
            .order_by(WebAuthnCredential.id)
        )
    )


def offered_at_prompt(db: Session, session: AuthSession) -> bool:
    """Whether the code prompt offers "Use your security key or passkey" first: the person
    has one and the organization entered accepts them."""
    return bool(credentials_of(db, session.user_id)) and accepted_for(db, session)


# -- Options -------------------------------------------------------------------------------


def _descriptor(row: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in row.transports.split(","):
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=row.credential_id, transports=transports or None)


def _refuse(
    db: Session,
    runtime: Runtime,
    error: PasskeyRefused | PasswordlessNotAllowed,
    reason: str,
    client: ClientInfo,
    *,
    user_id: int | None,
) -> None:
    """Audit the refusal and commit it with the used-up challenge, then raise."""
    audit.record(
        db,
        runtime.now(),
        AuditEventType.PASSKEY_REFUSED,
        user_id=user_id,
        client=client,
        reason=reason,
    )
    db.commit()
    raise error


# -- Adding a key ---------------------------------------------------------------------------


@use_case
def begin_adding(
    db: Session,
    runtime: Runtime,
    user: User,
    session: AuthSession,
    *,
    name: str,
    password: str,
    code: str,
    client: ClientInfo,
) -> str:
    """After the password and a current second factor (as for another authenticator), the
    options for navigator.credentials.create(), with a challenge bound to this session."""
    passkey_name(name)
    if confirmed_count(db, user.id) == 0:
        raise TwoFactorNotEnabled()  # an app (or phone) comes first, with recovery codes
    ensure_room_for_another(second_factor_count(db, user.id))
    _ensure_accepted(db, session)
    confirm_current_password(db, runtime, user, password, client)
    second_factor.confirm_any_second_factor_for_change(db, runtime, user, code, client)
    challenge = _new_challenge(db, runtime, REGISTER, user_id=user.id, session_id=session.id)
    options = generate_registration_options(
        rp_id=runtime.settings.rp_id,
        rp_name=runtime.settings.issuer,
        user_name=user.login,
        user_id=subject_of(db, user).encode(),
        user_display_name=user.login,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(row) for row in credentials_of(db, user.id)],
    )
    db.commit()
    return options_to_json(options)


def _transports(credential: dict[str, Any]) -> str:
    given = credential["response"].get("transports")
    names = [t for t in given if isinstance(t, str)] if isinstance(given, list) else []
    known = {t.value for t in AuthenticatorTransport}
    return ",".join(t for t in names if t in known)[:200]


def _resident(credential: dict[str, Any]) -> bool:
    """The browser's credProps extension: whether the key stored a discoverable credential."""
    extensions = credential.get("clientExtensionResults")
    props = extensions.get("credProps") if isinstance(extensions, dict) else None
    return isinstance(props, dict) and props.get("rk") is True


@use_case
def finish_adding(
    db: Session,
    runtime: Runtime,
    user: User,
    session: AuthSession,
    *,
    name: str,
    response: str,
    client: ClientInfo,
) -> MethodView:
    """The browser's answer to the options begin_adding gave: checked (origin, RP id,
    challenge, user presence), then stored with its public key, sign count, transports,
    AAGUID and backup flags; audited and told by email."""
    name = passkey_name(name)
    credential = parse_response(response)
    challenge = _challenge_of(credential)
    _consume_challenge(db, runtime, challenge, REGISTER, user_id=user.id, session_id=session.id)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=runtime.settings.rp_id,
            expected_origin=runtime.settings.webauthn_origin,
            require_user_presence=True,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        _refuse(db, runtime, PasskeyRefused(), _reason(exc), client, user_id=user.id)
        raise  # pragma: no cover - _refuse raised
    ensure_room_for_another(second_factor_count(db, user.id))
    taken = db.scalar(
        select(WebAuthnCredential.id).where(
            WebAuthnCredential.credential_id == verified.credential_id
        )
    )
    if taken is not None:
        _refuse(
            db, runtime, PasskeyAlreadyRegistered(), "already_registered", client, user_id=user.id
        )
    now = runtime.now()
    row = WebAuthnCredential(
        user_id=user.id,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(credential),
        aaguid=verified.aaguid,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=verified.credential_backed_up,
        discoverable=_resident(credential) and verified.user_verified,
        created_at=now,
        rp_id=runtime.settings.rp_id,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        now,
        AuditEventType.PASSKEY_ADDED,
        user_id=user.id,
        client=client,
        passkey_id=row.id,
        name=name,
        synced=row.backup_eligible,
        aaguid=row.aaguid,
    )
    notify(db, runtime, user, "passkey_added", messages.passkey_added(user.login, name))
    db.commit()
    return MethodView(
        row.id,
        PASSKEY_KIND,
        row.name,
        row.created_at,
        None,
        synced=row.backup_eligible,
        passwordless=row.discoverable,
    )


def _reason(exc: Exception) -> str:
    """What py_webauthn said, for the audit log (never shown to the person)."""
    return f"{type(exc).__name__}: {exc}"[:200]


# -- Rename and remove ----------------------------------------------------------------------


def own_passkey(db: Session, user: User, passkey_id: int) -> WebAuthnCredential:
    found = db.scalar(
        select(WebAuthnCredential).where(
            WebAuthnCredential.id == passkey_id, WebAuthnCredential.user_id == user.id
        )
    )
    if found is None:
        raise NotFound(words.NO_SUCH_PASSKEY)
    return found


@use_case
def rename(
    db: Session, runtime: Runtime, user: User, passkey_id: int, name: str, client: ClientInfo
) -> None:
    name = passkey_name(name)
    row = own_passkey(db, user, passkey_id)
    if row.name == name:
        return
    before, row.name = row.name, name
    audit.record(
        db,
        runtime.now(),
        AuditEventType.PASSKEY_RENAMED,
        user_id=user.id,
        client=client,
        passkey_id=row.id,
        name=name,
        previous_name=before,
    )
    db.commit()


@use_case
def remove(
    db: Session,
    runtime: Runtime,
    user: User,
    passkey_id: int,
    password: str,
    client: ClientInfo,
) -> None:
    """Remove a key after the password. A key is never the last method (2FA rests on an
    app or a phone, decision 0027), so this is always allowed; the applications the person
    signed in to must ask again, as when an authenticator goes."""
    row = own_passkey(db, user, passkey_id)
    ensure_removable(second_factor_count(db, user.id) - 1, [])
    confirm_current_password(db, runtime, user, password, client)
    name = row.name
    db.execute(delete(WebAuthnCredential).where(WebAuthnCredential.id == row.id))
    now = runtime.now()
    mark_credentials_changed(db, user, now)
    audit.record(
        db,
        now,
        AuditEventType.PASSKEY_REMOVED,
        user_id=user.id,
        client=client,
        passkey_id=passkey_id,
        name=name,
    )
    notify(db, runtime, user, "passkey_removed", messages.passkey_removed(user.login, name))
    db.commit()


# -- Signing in -----------------------------------------------------------------------------


@contextmanager
def _counted() -> Iterator[None]:
    """The metrics' second-step count (method "passkey"): ok, refused or locked."""
    try:
        yield
    except SecondFactorLocked:
        metrics.sign_in_second_factor("passkey", "locked")
        raise
    except (PasskeyRefused, PasswordlessNotAllowed, PasskeysNotAllowed):
        metrics.sign_in_second_factor("passkey", "refused")
        raise
    metrics.sign_in_second_factor("passkey", "ok")


def _pending_user(db: Session, runtime: Runtime, session: AuthSession) -> User:
    """The person at the key prompt: as at the code prompt, and also a signed-in session
    that has not used a key yet, where a code passed but the organization (decision 0029)
    or an application (acr phr) asks for a key: a key is a step up, never a step down."""
    key_used = is_phishing_resistant(amr_methods(session.amr))
    return second_factor.pending_user(db, runtime, session, key_step_up=not key_used)


@use_case
def begin_second_factor(db: Session, runtime: Runtime, session: AuthSession) -> str:
    """The options for navigator.credentials.get() at the code prompt: the person's keys,
    a challenge bound to this session; user presence is enough (a second factor)."""
    user = _pending_user(db, runtime, session)
    _ensure_accepted(db, session)
    rows = credentials_of(db, user.id)
    if not rows:
        raise UnknownPasskey()
    challenge = _new_challenge(db, runtime, SECOND_FACTOR, user_id=user.id, session_id=session.id)
    options = generate_authentication_options(
        rp_id=runtime.settings.rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[_descriptor(row) for row in rows],
        user_verification=UserVerificationRequirement.DISCOURAGED,
    )
    db.commit()
    return options_to_json(options)


@dataclass(frozen=True)
class _Asserted:
    row: WebAuthnCredential
    new_sign_count: int
    backed_up: bool


def _check_assertion(
    db: Session,
    runtime: Runtime,
    credential: dict[str, Any],
    challenge: bytes,
    row: WebAuthnCredential,
    client: ClientInfo,
    *,
    user_verification: bool,
) -> _Asserted:
    """Signature, origin, RP id, challenge and user presence (and, passwordless, user
    verification) by py_webauthn; then the cloned-key rule; then the new count recorded by
    a conditional UPDATE on the count read. Refusals are audited and committed."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=runtime.settings.rp_id,
            expected_origin=runtime.settings.webauthn_origin,
            credential_public_key=row.public_key,
            # The counter is judged below (a clear refusal, audited as a clone), not by
            # py_webauthn's generic error.
            credential_current_sign_count=0,
            require_user_verification=user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        _refuse(db, runtime, PasskeyRefused(), _reason(exc), client, user_id=row.user_id)
        raise  # pragma: no cover - _refuse raised
    try:
        ensure_sign_count_advances(row.sign_count, verified.new_sign_count)
    except SignCountRegressed:
        audit.record(
            db,
            runtime.now(),
            AuditEventType.SIGN_COUNT_REGRESSED,
            user_id=row.user_id,
            client=client,
            passkey_id=row.id,
            name=row.name,
            stored_sign_count=row.sign_count,
            reported_sign_count=verified.new_sign_count,
        )
        db.commit()  # the challenge stays used, the row untouched
        raise
    recorded = rows_affected(
        db,
        update(WebAuthnCredential)
        .where(
            WebAuthnCredential.id == row.id,
            WebAuthnCredential.sign_count == row.sign_count,
        )
        .values(
            sign_count=verified.new_sign_count,
            backed_up=verified.credential_backed_up,
            last_used_at=runtime.now(),
        )
        .execution_options(synchronize_session=False),
    )
    if recorded != 1:  # another answer of this key was recorded meanwhile
        _refuse(db, runtime, PasskeyRefused(), "concurrent_use", client, user_id=row.user_id)
    return _Asserted(row, verified.new_sign_count, verified.credential_backed_up)


@use_case
def verify_second_factor(
    db: Session, runtime: Runtime, session: AuthSession, response: str, client: ClientInfo
) -> str:
    """The code prompt's second step with a security key or passkey: the same success as a
    code (lockout reset, session stepped up with hwk or swk, audited); the new token."""
    with _counted():
        user = _pending_user(db, runtime, session)
        _ensure_accepted(db, session)
        credential = parse_response(response)
        challenge = _challenge_of(credential)
        _consume_challenge(
            db, runtime, challenge, SECOND_FACTOR, user_id=user.id, session_id=session.id
        )
        raw_id = _raw_id(credential)
        row = db.scalar(
            select(WebAuthnCredential).where(
                WebAuthnCredential.credential_id == raw_id, WebAuthnCredential.user_id == user.id
            )
        )
        if row is None:
            _refuse(db, runtime, UnknownPasskey(), "unknown_credential", client, user_id=user.id)
            raise UnknownPasskey()  # pragma: no cover - _refuse raised
        asserted = _check_assertion(
            db, runtime, credential, challenge, row, client, user_verification=False
        )
        return second_factor.succeed(
            db, runtime, session, user, method_of(asserted.row.backup_eligible), client
        )


@use_case
def begin_passwordless(db: Session, runtime: Runtime, binding: str) -> str:
    """The options for "Sign in with a passkey" (and the login page's autofill): no
    credentials listed (the passkey says whose it is), user verification required, the
    challenge bound to the browser's cookie `binding`."""
    challenge = _new_challenge(db, runtime, PASSWORDLESS, binding=binding)
    options = generate_authentication_options(
        rp_id=runtime.settings.rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    db.commit()
    return options_to_json(options)


@use_case
def sign_in_with_passkey(
    db: Session,
    runtime: Runtime,
    *,
    binding: str,
    response: str,
    client: ClientInfo,
    previous_session_id: int | None = None,
) -> signin.SignInStarted:
    """Passwordless: a discoverable passkey with the device's user verification is two
    factors (amr hwk|swk, user, mfa), where every organization of the person allows it.
    The session is opened as after a password (signin.open_session: inactive and
    unconfirmed accounts refused) and stepped up as after a code (lock, audit)."""
    with _counted():
        credential = parse_response(response)
        challenge = _challenge_of(credential)
        _consume_challenge(db, runtime, challenge, PASSWORDLESS, binding=binding)
        raw_id = _raw_id(credential)
        row = db.scalar(
            select(WebAuthnCredential).where(WebAuthnCredential.credential_id == raw_id)
        )
        if row is None:
            _refuse(db, runtime, UnknownPasskey(), "unknown_credential", client, user_id=None)
            raise UnknownPasskey()  # pragma: no cover - _refuse raised
        user = second_factor.lock_user_row(db, row.user_id)
        # The answer is judged first: only the key's holder learns anything of the account.
        asserted = _check_assertion(
            db, runtime, credential, challenge, row, client, user_verification=True
        )
        if user is None or not user.is_active or awaits_address_confirmation(user):
            _refuse(
                db, runtime, UnknownPasskey(), "account_not_usable", client, user_id=row.user_id
            )
            raise UnknownPasskey()  # pragma: no cover - _refuse raised
        second_factor.ensure_not_locked(user, runtime.now())
        if not passwordless_allowed(_membership_policies(db, user.id)):
            _refuse(
                db,
                runtime,
                PasswordlessNotAllowed(),
                "passwordless_not_allowed",
                client,
                user_id=user.id,
            )
        session, _password_token = signin.open_session(
            db,
            runtime,
            user,
            SessionState.PASSWORD_VERIFIED,
            [Method.USER_VERIFICATION],
            client,
            previous_session_id=previous_session_id,
        )
        token = second_factor.succeed(
            db, runtime, session, user, method_of(asserted.row.backup_eligible), client
        )
        return signin.SignInStarted(session=session, token=token, needs_second_factor=False)


# -- For operators ---------------------------------------------------------------------------


def registered_rp_ids(db: Session) -> dict[str, int]:
    """How many keys were registered for each relying-party id (twofold check)."""
    rows = db.execute(
        select(WebAuthnCredential.rp_id, func.count()).group_by(WebAuthnCredential.rp_id)
    )
    return {rp_id: int(count) for rp_id, count in rows}
