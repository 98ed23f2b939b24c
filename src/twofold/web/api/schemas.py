"""What the API accepts and answers. Request bodies refuse unknown fields and values of the
wrong type or size (422 in the one error shape); answers say only what their owner may see
(a secret only while setting up, recovery codes only when made, never a token again)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from twofold.core.policy import TwoFactorPolicy
from twofold.core.validation import MAX_CODE_INPUT, PASSWORD_MAX
from twofold.services.member_actions import REASON_MAX
from twofold.services.organizations import MAX_GRACE_DAYS

TOKEN_MAX = 128
# A row id in a path: within a 32-bit integer column (a larger one would reach the database).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class Body(BaseModel):
    """A request body: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --- sign-in ---------------------------------------------------------------------------


class SignInRequest(Body):
    login: str = Field(min_length=1, max_length=254, description="Login name or email address.")
    password: str = Field(min_length=1, max_length=PASSWORD_MAX + 1)


class SecondFactorRequest(Body):
    challenge: str = Field(
        min_length=1, max_length=TOKEN_MAX, description="From the sign-in's mfa_required answer."
    )
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_INPUT,
        description="The authenticator app's code (spaces and dashes are ignored).",
    )


class RecoveryCodeRequest(Body):
    challenge: str = Field(min_length=1, max_length=TOKEN_MAX)
    code: str = Field(min_length=1, max_length=MAX_CODE_INPUT, description="A recovery code.")


class SignInAnswer(BaseModel):
    """`mfa_required`: send a code with `challenge` before `expires_at` (minutes). `signed_in`:
    use `token` as `Authorization: Bearer <token>` until `expires_at`; `demand` says what the
    organization's policy still asks (`enroll`: set up 2FA before anything else; `grace`:
    set it up before `grace_ends_at`)."""

    status: Literal["mfa_required", "signed_in"]
    challenge: str | None = None
    token: str | None = None
    token_type: Literal["Bearer"] | None = None
    expires_at: datetime
    demand: Literal["none", "grace", "enroll", "verify"] | None = None
    grace_ends_at: datetime | None = None


# --- the person -------------------------------------------------------------------------


class TwoFactorStatus(BaseModel):
    enabled: bool
    recovery_codes_left: int
    demand: Literal["none", "grace", "enroll", "verify"]
    grace_ends_at: datetime | None
    required_by: str | None = Field(description="The organization whose policy asks for 2FA.")
    may_disable: bool
    signed_in_with_recovery_code: bool


class TotpEnrollment(BaseModel):
    """Shown only while setting up: add it to an authenticator app, then confirm a code."""

    secret: str = Field(description="Base32 key, for typing into the app.")
    otpauth_uri: str
    algorithm: str
    digits: int
    period: int


class ConfirmTotpRequest(Body):
    code: str = Field(min_length=1, max_length=MAX_CODE_INPUT)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="Shown once: each works once, in place of a code."
    )


class TotpConfirmed(RecoveryCodes):
    """2FA is on and counts as this sign-in's second factor: the token changed (the old
    one no longer works)."""

    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name
    expires_at: datetime


class PasswordRequest(Body):
    password: str = Field(min_length=1, max_length=PASSWORD_MAX + 1)


class SessionInfo(BaseModel):
    id: int
    kind: Literal["browser", "api"]
    state: Literal["password_verified", "authenticated"]
    current: bool
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None


class SessionList(BaseModel):
    sessions: list[SessionInfo]


# --- an admin ---------------------------------------------------------------------------


class MemberInfo(BaseModel):
    id: int
    login: str
    email: str | None
    role: str
    active: bool
    two_factor: bool
    reset_pending: bool
    recovery_codes_left: int
    locked: bool
    last_sign_in_at: datetime | None
    grace_ends_at: datetime | None


class MemberPage(BaseModel):
    members: list[MemberInfo]
    total: int
    page: int
    pages: int
    per_page: int


class ResetRequest(Body):
    reason: str = Field(
        min_length=1, max_length=REASON_MAX, description="Written to the audit log."
    )
    code: str = Field(
        default="",
        max_length=MAX_CODE_INPUT,
        description="The admin's own current code, unless they passed their second factor in "
        "the last ten minutes.",
    )


class PolicyInfo(BaseModel):
    organization: str
    two_factor: Literal["off", "optional", "required"]
    grace_days: int
    required_since: datetime | None
    grace_ends_at: datetime | None
    members: int
    members_without_2fa: int


class PolicyRequest(Body):
    two_factor: TwoFactorPolicy
    grace_days: int = Field(default=0, ge=0, le=MAX_GRACE_DAYS)
    sign_out_everyone: bool = Field(
        default=False, description="End every member's sessions (but this one)."
    )


class PolicyApplied(PolicyInfo):
    sessions_ended: int


class AuditEventInfo(BaseModel):
    id: int
    occurred_at: datetime
    event: str
    member: str | None
    actor: str | None
    ip: str | None
    user_agent: str | None
    detail: str


class AuditPage(BaseModel):
    events: list[AuditEventInfo]
    total: int
    page: int
    per_page: int
