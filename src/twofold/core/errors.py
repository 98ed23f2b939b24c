"""One error hierarchy for the domain. Every error carries its words as a catalogue message
(twofold.core.words), never a finished English sentence: either its own, given where it is
raised (`NotFound(words.NO_SUCH_USER(login=login))`), or its kind's `default_message`. The
web layer maps each error to a status and renders its words in the reader's language
(twofold.web.errors); the CLI prints the same words (`detail`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from twofold.core import words
from twofold.core.words import Msg, Words, translate


class TwofoldError(Exception):
    """Base of every expected failure; `code` is stable and machine-readable."""

    code = "error"
    default_message: ClassVar[Msg] = words.SOMETHING_WENT_WRONG

    def __init__(self, message: Words | None = None) -> None:
        super().__init__(message if message is not None else self.code)
        self.message = message

    def default_words(self, now: datetime | None = None) -> Words:
        """What this kind of error says when it is not given words of its own (`now` lets a
        wait be said in minutes)."""
        return self.default_message

    def words_for(self, now: datetime | None = None) -> Words:
        """The words given where it was raised, else those of its kind."""
        return self.message if self.message is not None else self.default_words(now)

    @property
    def detail(self) -> str:
        """The words in English, for the CLI and logs (pages render them in the reader's
        language through twofold.web.errors.message_for)."""
        return translate(self.words_for())

    def __str__(self) -> str:
        return self.detail


class InvalidInput(TwofoldError):
    """A field is missing, malformed or out of bounds; `field` names it."""

    code = "invalid_input"

    def __init__(self, field: str, message: Words) -> None:
        super().__init__(message)
        self.field = field


class WeakPassword(InvalidInput):
    code = "weak_password"

    def __init__(self, message: Words) -> None:
        super().__init__("new_password", message)


class InvalidCredentials(TwofoldError):
    """Unknown login or wrong password: one error so neither is revealed."""

    code = "invalid_credentials"
    default_message = words.INVALID_CREDENTIALS


class WrongPassword(TwofoldError):
    """The signed-in person's current password, asked again before a sensitive change."""

    code = "wrong_password"
    default_message = words.WRONG_PASSWORD


class PasswordAttemptsThrottled(TwofoldError):
    code = "password_throttled"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds

    def default_words(self, now: datetime | None = None) -> Words:
        return words.PASSWORD_THROTTLED(wait=words.wait_words(self.retry_after_seconds))


class MalformedCode(TwofoldError):
    """Letters or the wrong length: said plainly, and not counted as a guess."""

    code = "malformed_code"
    default_message = words.MALFORMED_CODE


class MalformedRecoveryCode(MalformedCode):
    code = "malformed_recovery_code"
    default_message = words.MALFORMED_RECOVERY_CODE


class InvalidCode(TwofoldError):
    code = "invalid_code"
    default_message = words.CODE_MISMATCH


class CodeReused(TwofoldError):
    """RFC 6238 §5.2: a step at or before the last one accepted."""

    code = "code_reused"
    default_message = words.CODE_REUSED


class InvalidRecoveryCode(TwofoldError):
    """Unknown or already used: one error, so neither is revealed."""

    code = "invalid_recovery_code"
    default_message = words.INVALID_RECOVERY_CODE


class NotPasswordVerified(TwofoldError):
    """The code prompt was reached without a fresh password step (or it expired)."""

    code = "not_password_verified"
    default_message = words.NOT_PASSWORD_VERIFIED


class SecondFactorLocked(TwofoldError):
    """Too many wrong codes in a row; `until` is None when only an operator can unlock."""

    code = "second_factor_locked"

    def __init__(self, until: datetime | None) -> None:
        super().__init__()
        self.until = until

    def default_words(self, now: datetime | None = None) -> Words:
        if self.until is None:
            return words.CODES_LOCKED_UNTIL_UNLOCKED
        time = f"{self.until:%H:%M}"
        if now is None:
            return words.CODES_LOCKED_UNTIL(time=time)
        seconds = max(1, int((self.until - now).total_seconds()))
        return words.CODES_LOCKED_UNTIL_ABOUT(time=time, wait=words.wait_words(seconds))


class TwoFactorAlreadyEnabled(TwofoldError):
    code = "two_factor_already_enabled"
    default_message = words.TWO_FACTOR_ALREADY_ENABLED


class TooManyAuthenticators(TwofoldError):
    code = "too_many_authenticators"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def default_words(self, now: datetime | None = None) -> Words:
        return words.TOO_MANY_AUTHENTICATORS(max=self.limit)


class LastMethodRequired(TwofoldError):
    """The person's only second factor cannot go: an organization or a role requires 2FA.
    The way to move phones is to add the new one first (decision 0020)."""

    code = "last_method_required"

    def __init__(self, blockers: Sequence[Words]) -> None:
        super().__init__()
        self.blockers = list(blockers)

    def default_words(self, now: datetime | None = None) -> Words:
        return words.LAST_METHOD_REQUIRED(required=words.and_list(self.blockers))


class PasskeyRefused(TwofoldError):
    """A security key's or passkey's answer that does not prove anything: malformed, for
    another site (origin, RP id), with no user presence, a bad signature (decision 0027)."""

    code = "passkey_refused"
    default_message = words.PASSKEY_REFUSED


class PasskeyChallengeExpired(PasskeyRefused):
    """The challenge answered is unknown, expired (5 minutes), another session's, or used."""

    code = "passkey_challenge_expired"
    default_message = words.PASSKEY_CHALLENGE_EXPIRED


class UnknownPasskey(PasskeyRefused):
    code = "unknown_passkey"
    default_message = words.UNKNOWN_PASSKEY


class PasskeyAlreadyRegistered(PasskeyRefused):
    code = "passkey_already_registered"
    default_message = words.PASSKEY_ALREADY_REGISTERED


class SignCountRegressed(PasskeyRefused):
    """The key reported a use counter at or below the last one: a cloned key (audited)."""

    code = "sign_count_regressed"
    default_message = words.SIGN_COUNT_REGRESSED


class PasskeysNotAllowed(TwofoldError):
    """The organization entered does not accept security keys or passkeys (policy off)."""

    code = "passkeys_not_allowed"
    default_message = words.PASSKEYS_NOT_ALLOWED


class PasswordlessNotAllowed(TwofoldError):
    """Not every organization of the person allows signing in without a password."""

    code = "passwordless_not_allowed"
    default_message = words.PASSWORDLESS_NOT_ALLOWED


class TwoFactorNotEnabled(TwofoldError):
    code = "two_factor_not_enabled"
    default_message = words.TWO_FACTOR_NOT_ENABLED


class ReenrollmentLinkRequired(TwofoldError):
    """After an admin reset, only the emailed link may set up 2FA again."""

    code = "reenrollment_link_required"
    default_message = words.REENROLLMENT_LINK_REQUIRED


class EnrollmentNotStarted(TwofoldError):
    code = "enrollment_not_started"
    default_message = words.ENROLLMENT_NOT_STARTED


class NotFound(TwofoldError):
    code = "not_found"
    default_message = words.NOT_FOUND


class Forbidden(TwofoldError):
    """The person may not do this here (not a member, not an admin, sign-up closed)."""

    code = "forbidden"
    default_message = words.FORBIDDEN


class TwoFactorRequired(TwofoldError):
    """2FA cannot be turned off: an organization or an admin role requires it."""

    code = "two_factor_required"

    def __init__(self, blockers: Sequence[Words]) -> None:
        super().__init__()
        self.blockers = list(blockers)

    @property
    def reasons(self) -> list[str]:
        """The blockers in English (organization names, "platform administrators")."""
        return [translate(blocker) for blocker in self.blockers]

    def default_words(self, now: datetime | None = None) -> Words:
        return words.TWO_FACTOR_REQUIRED(reasons=words.and_list(self.blockers))


class AlreadyExists(TwofoldError):
    code = "already_exists"

    def __init__(self, field: str, message: Words) -> None:
        super().__init__(message)
        self.field = field


class InvalidToken(TwofoldError):
    """A one-time link that is unknown, used or expired."""

    code = "invalid_token"
    default_message = words.INVALID_TOKEN


class KeysMismatch(TwofoldError):
    """The configured keys are not the ones this database's secrets were sealed with."""

    code = "keys_mismatch"


class ConfigurationError(TwofoldError):
    """The server cannot start as configured; the message says what to change."""

    code = "configuration_error"


class SmsSendFailed(TwofoldError):
    """The SMS provider refused the message, failed or did not answer in time. The person
    reads the kind's words; `reason` ("timeout", "http 503", "connection refused") is for the
    audit log and holds no secret, phone number or message text."""

    code = "sms_send_failed"
    default_message = words.SMS_SEND_FAILED

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SmsLimitReached(TwofoldError):
    """Too many text messages this hour: for this account (`scope` "account"), from this
    address ("ip"), or in all ("global"). Said without telling which of the last two."""

    code = "sms_limit_reached"

    def __init__(self, scope: str, retry_after_seconds: int | None = None) -> None:
        super().__init__()
        self.scope = scope
        self.retry_after_seconds = retry_after_seconds  # until the full window ends

    def default_words(self, now: datetime | None = None) -> Words:
        return words.SMS_ACCOUNT_LIMIT if self.scope == "account" else words.SMS_BUSY


class SmsResendTooSoon(TwofoldError):
    """A new code was asked for before the resend wait was over."""

    code = "sms_resend_too_soon"

    def __init__(self, seconds: int) -> None:
        super().__init__()
        self.seconds = seconds

    def default_words(self, now: datetime | None = None) -> Words:
        return words.SMS_RESEND_WAIT(n=self.seconds)


class SmsCodeExpired(TwofoldError):
    """No code by text message that may still be tried: none sent, expired, used, or its
    wrong tries used up. Not counted as a guess: nothing was compared."""

    code = "sms_code_expired"
    default_message = words.SMS_NO_LIVE_CODE


class OidcRefused(TwofoldError):
    """A request of an OpenID Connect client is refused. `error` is the code the protocol
    gives the client (RFC 6749 §4.1.2.1, §5.2: invalid_request, invalid_grant, …). With
    `redirect_uri`, the refusal goes back to the client; without, it is shown to the person
    (an unknown client or redirect URI: never redirect there)."""

    code = "oidc_refused"
    default_message = words.OIDC_REQUEST_REFUSED

    def __init__(
        self,
        error: str,
        message: Words | None = None,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


class RequestRateLimited(TwofoldError):
    """Too many requests in the window of one request-rate limit (core.rate_limits.Scope
    value in `scope`): the address's, an API key's or an OIDC client's."""

    code = "rate_limited"

    def __init__(self, scope: str, retry_after_seconds: int) -> None:
        super().__init__()
        self.scope = scope
        self.retry_after_seconds = retry_after_seconds  # until the window ends

    def default_words(self, now: datetime | None = None) -> Words:
        if self.scope == "api_key":
            return words.API_KEY_RATE_LIMITED(seconds=self.retry_after_seconds)
        if self.scope == "oidc_client":
            return words.OIDC_CLIENT_RATE_LIMITED(seconds=self.retry_after_seconds)
        return words.ADDRESS_RATE_LIMITED(wait=words.wait_words(self.retry_after_seconds))
