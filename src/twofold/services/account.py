"""What a signed-in person does on their security page: set up, confirm and turn off 2FA,
regenerate recovery codes, change the password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    EnrollmentNotStarted,
    InvalidInput,
    ReenrollmentLinkRequired,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
    TwoFactorRequired,
    WrongPassword,
)
from twofold.core.policy import MembershipView, blockers_to_disabling, two_factor_offered
from twofold.core.sessions import Method
from twofold.core.validation import PASSWORD_MAX
from twofold.notify import messages
from twofold.otp.recovery import generate_recovery_codes, normalize_recovery_code
from twofold.otp.secret import encode_secret, generate_secret, group_for_display
from twofold.otp.totp import TotpParams
from twofold.otp.uri import provisioning_uri
from twofold.services import audit, sessions
from twofold.services.crash_points import crash_point
from twofold.services.notifications import notify
from twofold.services.organizations import membership_views
from twofold.services.passwords import (
    check_new_password,
    check_password,
    claim_password_attempt,
    hash_new_password,
    password_attempt_succeeded,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import consume_totp_step
from twofold.services.totp_secrets import open_secret, seal_secret
from twofold.services.transactions import use_case
from twofold.services.users import (
    clear_code_failures,
    has_two_factor,
    mark_credentials_changed,
)
from twofold.store.models import (
    DEFAULT_AUTHENTICATOR_NAME,
    Authenticator,
    AuthSession,
    RecoveryCode,
    User,
    WebAuthnCredential,
)

# A setup page reopened within this time shows the same key, so a half-finished
# scan in another tab still works; after it, a new key is made.
PENDING_ENROLLMENT_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class PendingEnrollment:
    """Shown to the owner during setup only; never again once confirmed."""

    secret_b32: str
    secret_grouped: str
    uri: str
    params: TotpParams


def setup_offered(user: User, memberships: list[MembershipView]) -> bool:
    """Whether 2FA setup is open to the person: an organization offers it, or an admin's
    reset is waiting for them (then it takes the emailed link). The pages and the API ask."""
    return user.two_factor_reset_at is not None or two_factor_offered(
        memberships, user.is_superadmin, False
    )


def confirm_current_password(
    db: Session, runtime: Runtime, user: User, password: str, client: ClientInfo
) -> None:
    """Re-check the password before a sensitive change, throttled like sign-in."""
    claim_password_attempt(db, runtime, user.login, client)  # commits: no lock while hashing
    if (
        not password
        or len(password) > PASSWORD_MAX
        or not check_password(runtime, user.password_hash, password)
    ):
        audit.record(
            db, runtime.now(), AuditEventType.PASSWORD_CHECK_FAILED, user_id=user.id, client=client
        )
        db.commit()
        raise WrongPassword()
    password_attempt_succeeded(db, user.login, client)


@use_case
def begin_totp_enrollment(
    db: Session, runtime: Runtime, user: User, *, via_reset_link: bool = False
) -> PendingEnrollment:
    if has_two_factor(db, user.id):
        raise TwoFactorAlreadyEnabled()
    if user.two_factor_reset_at is not None and not via_reset_link:
        raise ReenrollmentLinkRequired()
    pending = fresh_pending_authenticator(db, runtime, user.id)
    if pending is None:
        pending = new_pending_totp(db, runtime, user)
        db.commit()
    return enrollment_view(runtime, user, pending)


def drop_unfinished(db: Session, user_id: int, kind: str) -> None:
    """Forget the person's setups of this kind of method that never got their first code."""
    db.execute(
        delete(Authenticator).where(
            Authenticator.user_id == user_id,
            Authenticator.kind == kind,
            Authenticator.confirmed_at.is_(None),
        )
    )


def new_pending_totp(
    db: Session, runtime: Runtime, user: User, name: str = DEFAULT_AUTHENTICATOR_NAME
) -> Authenticator:
    """A new authenticator app's key, sealed, waiting for its first code (in the caller's
    transaction); any other app setup left unfinished is dropped."""
    drop_unfinished(db, user.id, "totp")
    params = TotpParams()
    kid, sealed = seal_secret(runtime.keys, generate_secret(), user.id)
    pending = Authenticator(
        user_id=user.id,
        kind="totp",
        name=name,
        secret_kid=kid,
        secret_sealed=sealed,
        algorithm=params.algorithm,
        digits=params.digits,
        period=params.period,
        created_at=runtime.now(),
    )
    db.add(pending)
    return pending


def enrollment_view(runtime: Runtime, user: User, pending: Authenticator) -> PendingEnrollment:
    params = TotpParams(pending.algorithm, pending.digits, pending.period)
    secret = open_secret(runtime, pending, user.id)
    b32 = encode_secret(secret)
    return PendingEnrollment(
        secret_b32=b32,
        secret_grouped=group_for_display(b32),
        uri=provisioning_uri(
            secret=secret, account=user.login, issuer=runtime.settings.issuer, params=params
        ),
        params=params,
    )


def fresh_pending_authenticator(
    db: Session, runtime: Runtime, user_id: int, kind: str = "totp"
) -> Authenticator | None:
    """The method of this kind (an app, or a phone) waiting for its first code, while it may
    still be confirmed (PENDING_ENROLLMENT_TTL); None otherwise."""
    pending = db.scalar(
        select(Authenticator)
        .where(
            Authenticator.user_id == user_id,
            Authenticator.kind == kind,
            Authenticator.confirmed_at.is_(None),
        )
        .order_by(Authenticator.id.desc())
        .limit(1)
    )
    if pending is None or runtime.now() - pending.created_at > PENDING_ENROLLMENT_TTL:
        return None
    return pending


def confirm_totp_enrollment(
    db: Session,
    runtime: Runtime,
    user: User,
    code: str,
    client: ClientInfo,
    *,
    via_reset_link: bool = False,
) -> list[str]:
    """Turn 2FA on with a first code from the app; returns the recovery codes, shown once."""
    codes = turn_on_totp(db, runtime, user, code, client, via_reset_link=via_reset_link)
    crash_point("enroll.before_commit", db)
    db.commit()
    crash_point("enroll.after_commit")
    return codes


def turn_on_totp(
    db: Session,
    runtime: Runtime,
    user: User,
    code: str,
    client: ClientInfo,
    *,
    via_reset_link: bool = False,
) -> list[str]:
    """Confirm the pending authenticator, make the recovery codes and record it, inside the
    caller's transaction: the caller adds its own changes and commits once."""
    if has_two_factor(db, user.id):
        raise TwoFactorAlreadyEnabled()
    if user.two_factor_reset_at is not None and not via_reset_link:
        raise ReenrollmentLinkRequired()
    pending = fresh_pending_authenticator(db, runtime, user.id)
    if pending is None:
        raise EnrollmentNotStarted()
    # Someone who holds the key is not guessing it, so a wrong code here is not counted.
    consume_totp_step(db, runtime, pending, user, code)
    crash_point("enroll.after_step", db)
    now = runtime.now()
    pending.confirmed_at = now
    codes = replace_recovery_codes(db, runtime, user)
    audit.record(db, now, AuditEventType.TWO_FACTOR_ENABLED, user_id=user.id, client=client)
    notify(db, runtime, user, "two_factor_enabled", messages.two_factor_enabled(user.login))
    return codes


@use_case
def confirm_totp_enrollment_in_session(
    db: Session,
    runtime: Runtime,
    user: User,
    session: AuthSession,
    code: str,
    client: ClientInfo,
) -> tuple[list[str], str]:
    """Confirm enrollment and count it as this session's second factor (a step up, so the
    session token changes), in one transaction. Returns the recovery codes and the new token."""
    codes = turn_on_totp(db, runtime, user, code, client)
    crash_point("enroll.after_confirm", db)
    token = sessions.step_up(db, runtime, session, Method.TOTP)
    crash_point("enroll.before_commit", db)
    db.commit()
    crash_point("enroll.after_commit")
    return codes, token


def replace_recovery_codes(db: Session, runtime: Runtime, user: User) -> list[str]:
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    crash_point("recovery_codes.after_delete", db)
    codes = generate_recovery_codes()
    now = runtime.now()
    for code in codes:
        kid, digest = runtime.keys.primary_recovery_code_digest(
            user.id, normalize_recovery_code(code)
        )
        db.add(RecoveryCode(user_id=user.id, key_id=kid, code_digest=digest, created_at=now))
    db.flush()
    return codes


@use_case
def regenerate_recovery_codes(
    db: Session, runtime: Runtime, user: User, password: str, client: ClientInfo
) -> list[str]:
    """A new set; every code of the old set stops working in the same transaction."""
    confirm_current_password(db, runtime, user, password, client)
    if not has_two_factor(db, user.id):
        raise TwoFactorNotEnabled()
    codes = replace_recovery_codes(db, runtime, user)
    audit.record(
        db, runtime.now(), AuditEventType.RECOVERY_CODES_REGENERATED, user_id=user.id, client=client
    )
    notify(
        db,
        runtime,
        user,
        "recovery_codes_regenerated",
        messages.recovery_codes_regenerated(user.login),
    )
    crash_point("regenerate.before_commit", db)
    db.commit()
    crash_point("regenerate.after_commit")
    return codes


@use_case
def disable_two_factor(
    db: Session, runtime: Runtime, user: User, password: str, client: ClientInfo
) -> None:
    """Delete the secret and every recovery code; the password alone signs in afterwards."""
    # The reason it must stay on comes first: no password is checked (or counted) for nothing.
    if not has_two_factor(db, user.id):
        raise TwoFactorNotEnabled()
    blockers = blockers_to_disabling(membership_views(db, user), user.is_superadmin)
    if blockers:
        raise TwoFactorRequired(blockers)
    confirm_current_password(db, runtime, user, password, client)
    turn_off_two_factor(db, runtime, user, client)
    db.commit()


def turn_off_two_factor(db: Session, runtime: Runtime, user: User, client: ClientInfo) -> None:
    """Every authenticator and recovery code goes, audited and told, in the caller's
    transaction (turning 2FA off, or removing the last authenticator where allowed)."""
    db.execute(delete(Authenticator).where(Authenticator.user_id == user.id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    clear_code_failures(user)
    mark_credentials_changed(db, user, runtime.now())
    audit.record(
        db, runtime.now(), AuditEventType.TWO_FACTOR_DISABLED, user_id=user.id, client=client
    )
    notify(db, runtime, user, "two_factor_disabled", messages.two_factor_disabled(user.login))


@use_case
def change_password(
    db: Session,
    runtime: Runtime,
    user: User,
    *,
    current_password: str,
    new_password: str,
    confirm_password: str,
    keep_session_id: int | None,
    client: ClientInfo,
) -> int:
    """Set a new password; every other session of the account ends. Returns how many."""
    confirm_current_password(db, runtime, user, current_password, client)
    if new_password != confirm_password:
        raise InvalidInput("confirm_password", words.PASSWORDS_DIFFER)
    if new_password == current_password:
        raise InvalidInput("new_password", words.PASSWORD_UNCHANGED)
    check_new_password(new_password, user_inputs=[user.login, user.email or ""])
    user.password_hash = hash_new_password(db, runtime, new_password)
    ended = sessions.end_other_sessions(db, user.id, keep_session_id, runtime.now())
    mark_credentials_changed(db, user, runtime.now())
    audit.record(
        db,
        runtime.now(),
        AuditEventType.PASSWORD_CHANGED,
        user_id=user.id,
        client=client,
        other_sessions_ended=ended,
    )
    notify(db, runtime, user, "password_changed", messages.password_changed(user.login))
    db.commit()
    return ended
