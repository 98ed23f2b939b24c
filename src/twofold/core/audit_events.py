"""The names of security events in the audit log; stable, since operators filter on them."""

from __future__ import annotations

from enum import StrEnum


class AuditEventType(StrEnum):
    SIGN_IN_SUCCEEDED = "sign_in.succeeded"
    SIGN_IN_PASSWORD_FAILED = "sign_in.password_failed"
    SECOND_FACTOR_FAILED = "second_factor.failed"
    SECOND_FACTOR_CODE_REUSED = "second_factor.code_reused"
    SECOND_FACTOR_LOCKED = "second_factor.locked"
    SECOND_FACTOR_UNLOCKED = "second_factor.unlocked"
    RECOVERY_CODE_USED = "recovery_code.used"
    RECOVERY_CODES_REGENERATED = "recovery_codes.regenerated"
    TWO_FACTOR_ENABLED = "two_factor.enabled"
    TWO_FACTOR_DISABLED = "two_factor.disabled"
    PASSWORD_CHANGED = "password.changed"
    PASSWORD_CHECK_FAILED = "password.check_failed"
    SIGNED_OUT = "session.signed_out"
    USER_CREATED = "user.created"
    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_POLICY_CHANGED = "organization.policy_changed"
    ORGANIZATION_MEMBERS_SIGNED_OUT = "organization.members_signed_out"
    ORGANIZATION_SWITCHED = "organization.switched"
    ORGANIZATION_SWITCH_REFUSED = "organization.switch_refused"
    MEMBERSHIP_ADDED = "membership.added"
    MEMBERSHIP_REMOVED = "membership.removed"
    SIGNUP_REFUSED = "signup.refused"
    PASSWORD_RESET_REQUESTED = "password.reset_requested"
    PASSWORD_RESET = "password.reset"
    EMAIL_CHANGE_REQUESTED = "email.change_requested"
    EMAIL_VERIFIED = "email.verified"
    SESSION_ENDED = "session.ended_by_owner"
