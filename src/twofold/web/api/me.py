"""/api/v1/me: the signed-in person's own 2FA (status, set up, recovery codes, turn off) and
sessions. Each route calls the service its page on /account/security calls."""

from __future__ import annotations

from fastapi import APIRouter, Response

from twofold.core import words
from twofold.core.policy import blockers_to_disabling
from twofold.core.sessions import Method, amr_methods
from twofold.services import account, activity
from twofold.services.users import recovery_codes_left
from twofold.store.models import AuthSession
from twofold.web.api.deps import EnrollingPerson, Person, StandingDep, TokenSession
from twofold.web.api.errors import ApiError, documented
from twofold.web.api.schemas import (
    ConfirmTotpRequest,
    PasswordRequest,
    RecoveryCodes,
    RowId,
    SessionInfo,
    SessionList,
    TotpConfirmed,
    TotpEnrollment,
    TwoFactorStatus,
)
from twofold.web.deps import ClientDep, DbDep, RuntimeDep

router = APIRouter(prefix="/v1/me", tags=["me"])

SIGNED_IN = (401, 403)  # no or bad token; a second factor or 2FA setup owed first


@router.get("/two-factor", summary="My 2FA status", responses=documented(*SIGNED_IN))
def two_factor_status(
    db: DbDep, user: EnrollingPerson, standing: StandingDep, session: TokenSession
) -> TwoFactorStatus:
    enabled = standing.has_two_factor
    return TwoFactorStatus(
        enabled=enabled,
        recovery_codes_left=recovery_codes_left(db, user.id) if enabled else 0,
        demand=standing.access.demand.value,
        grace_ends_at=standing.access.grace_ends_at,
        required_by=standing.access.because,
        may_disable=enabled and not blockers_to_disabling(standing.memberships, user.is_superadmin),
        signed_in_with_recovery_code=Method.RECOVERY_CODE in amr_methods(session.amr),
    )


def _ensure_offered(user: EnrollingPerson, standing: StandingDep) -> None:
    if not account.setup_offered(user, standing.memberships):
        raise ApiError(403, "two_factor_not_offered", words.NOTICE_TWO_FACTOR_NOT_OFFERED)


@router.post(
    "/two-factor/totp",
    summary="Start setting up an authenticator app",
    responses=documented(*SIGNED_IN, 409),
)
def start_totp(
    db: DbDep, runtime: RuntimeDep, user: EnrollingPerson, standing: StandingDep
) -> TotpEnrollment:
    """The key to add to the app (the same one again for 30 minutes); 409 when 2FA is on;
    403 `reenrollment_link_required` after an admin's reset (use the emailed link)."""
    _ensure_offered(user, standing)
    pending = account.begin_totp_enrollment(db, runtime, user)
    return TotpEnrollment(
        secret=pending.secret_b32,
        otpauth_uri=pending.uri,
        algorithm=pending.params.algorithm,
        digits=pending.params.digits,
        period=pending.params.period,
    )


@router.post(
    "/two-factor/totp/confirm",
    summary="Confirm the authenticator app with a code: 2FA on",
    responses=documented(400, *SIGNED_IN, 409),
)
def confirm_totp(
    body: ConfirmTotpRequest,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingPerson,
    standing: StandingDep,
    session: TokenSession,
) -> TotpConfirmed:
    """Returns the recovery codes (shown once) and this sign-in's new token: the code
    counts as its second factor, and the old token stops working."""
    _ensure_offered(user, standing)
    codes, token = account.confirm_totp_enrollment_in_session(
        db, runtime, user, session, body.code, client
    )
    return TotpConfirmed(recovery_codes=codes, token=token, expires_at=session.expires_at)


@router.post(
    "/two-factor/recovery-codes",
    summary="Make a new set of recovery codes (the old set stops working)",
    responses=documented(400, *SIGNED_IN, 409, 429),
)
def regenerate_recovery_codes(
    body: PasswordRequest, db: DbDep, runtime: RuntimeDep, client: ClientDep, user: Person
) -> RecoveryCodes:
    """Needs the current password (400 `wrong_password`, throttled as at sign-in)."""
    codes = account.regenerate_recovery_codes(db, runtime, user, body.password, client)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/two-factor/disable",
    summary="Turn 2FA off",
    status_code=204,
    response_class=Response,
    responses=documented(400, *SIGNED_IN, 409, 429),
)
def disable_two_factor(
    body: PasswordRequest, db: DbDep, runtime: RuntimeDep, client: ClientDep, user: Person
) -> Response:
    """Needs the current password; 403 `two_factor_required` while an organization's policy
    or an admin role keeps it on."""
    account.disable_two_factor(db, runtime, user, body.password, client)
    return Response(status_code=204)


def _session_info(session: AuthSession, current_id: int) -> SessionInfo:
    return SessionInfo.model_validate(
        {
            "id": session.id,
            "kind": session.kind,
            "state": session.state,
            "current": session.id == current_id,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
            "expires_at": session.expires_at,
            "ip": session.ip,
            "user_agent": session.user_agent,
        }
    )


@router.get(
    "/sessions",
    summary="My signed-in sessions: browsers and API tokens",
    responses=documented(*SIGNED_IN),
)
def list_sessions(
    db: DbDep, runtime: RuntimeDep, user: Person, session: TokenSession
) -> SessionList:
    return SessionList(
        sessions=[
            _session_info(s, session.id) for s in activity.active_sessions(db, runtime, user.id)
        ]
    )


@router.delete(
    "/sessions/{session_id}",
    summary="Sign out one of my sessions (revoke a token)",
    status_code=204,
    response_class=Response,
    responses=documented(*SIGNED_IN, 404),
)
def end_session(
    session_id: RowId, db: DbDep, runtime: RuntimeDep, client: ClientDep, user: Person
) -> Response:
    """Someone else's session, or one already ended, is 404."""
    activity.end_own_session(db, runtime, user, session_id, client)
    return Response(status_code=204)
