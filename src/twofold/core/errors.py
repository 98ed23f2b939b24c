"""One error hierarchy for the domain. The web layer maps each to a status and a message
in exactly one place (twofold.web.errors); the CLI prints the same messages."""

from __future__ import annotations

from datetime import datetime


class TwofoldError(Exception):
    """Base of every expected failure; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class InvalidInput(TwofoldError):
    """A field is missing, malformed or out of bounds; `field` names it."""

    code = "invalid_input"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class WeakPassword(InvalidInput):
    code = "weak_password"

    def __init__(self, detail: str) -> None:
        super().__init__("new_password", detail)


class InvalidCredentials(TwofoldError):
    """Unknown login or wrong password: one error so neither is revealed."""

    code = "invalid_credentials"


class WrongPassword(TwofoldError):
    """The signed-in person's current password, asked again before a sensitive change."""

    code = "wrong_password"


class PasswordAttemptsThrottled(TwofoldError):
    code = "password_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class MalformedCode(TwofoldError):
    """Letters or the wrong length: said plainly, and not counted as a guess."""

    code = "malformed_code"


class MalformedRecoveryCode(MalformedCode):
    code = "malformed_recovery_code"


class InvalidCode(TwofoldError):
    code = "invalid_code"


class CodeReused(TwofoldError):
    """RFC 6238 §5.2: a step at or before the last one accepted."""

    code = "code_reused"


class InvalidRecoveryCode(TwofoldError):
    """Unknown or already used: one error, so neither is revealed."""

    code = "invalid_recovery_code"


class NotPasswordVerified(TwofoldError):
    """The code prompt was reached without a fresh password step (or it expired)."""

    code = "not_password_verified"


class SecondFactorLocked(TwofoldError):
    """Too many wrong codes in a row; `until` is None when only an operator can unlock."""

    code = "second_factor_locked"

    def __init__(self, until: datetime | None) -> None:
        super().__init__("locked")
        self.until = until


class TwoFactorAlreadyEnabled(TwofoldError):
    code = "two_factor_already_enabled"


class TwoFactorNotEnabled(TwofoldError):
    code = "two_factor_not_enabled"


class ReenrollmentLinkRequired(TwofoldError):
    """After an admin reset, only the emailed link may set up 2FA again."""

    code = "reenrollment_link_required"


class EnrollmentNotStarted(TwofoldError):
    code = "enrollment_not_started"


class NotFound(TwofoldError):
    code = "not_found"


class Forbidden(TwofoldError):
    """The person may not do this here (not a member, not an admin, sign-up closed)."""

    code = "forbidden"


class TwoFactorRequired(TwofoldError):
    """2FA cannot be turned off: an organization or an admin role requires it."""

    code = "two_factor_required"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class AlreadyExists(TwofoldError):
    code = "already_exists"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class InvalidToken(TwofoldError):
    """A one-time link that is unknown, used or expired."""

    code = "invalid_token"


class KeysMismatch(TwofoldError):
    """The configured keys are not the ones this database's secrets were sealed with."""

    code = "keys_mismatch"


class ConfigurationError(TwofoldError):
    """The server cannot start as configured; the message says what to change."""

    code = "configuration_error"
