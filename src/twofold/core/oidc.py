"""What an OpenID Connect token may say, and when a sign-in is fresh enough: pure rules.

`amr` follows RFC 8176: a password is "pwd"; an authenticator app's code and a recovery code
are both one-time passwords ("otp"); two factors together are "mfa". `acr` names the level
in Twofold's own terms, so a client can ask for the second factor with `acr_values`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from twofold.core.sessions import Method

ACR_PASSWORD = "urn:twofold:acr:pwd"  # noqa: S105 - a level name
ACR_TWO_FACTOR = "urn:twofold:acr:mfa"
# Two factors, the second a phishing-resistant one (WebAuthn: bound to this site's origin).
ACR_PHISHING_RESISTANT = "urn:twofold:acr:phr"
ACR_VALUES = (ACR_PASSWORD, ACR_TWO_FACTOR, ACR_PHISHING_RESISTANT)

CODE_LIFETIME = timedelta(seconds=60)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
# An ID token is valid this long; the key rotation keeps a key published this long after its
# successor activates (services/signing_keys).
ID_TOKEN_LIFETIME = timedelta(hours=1)
# A refresh token works at most this long after the sign-in it came from.
GRANT_MAX_AGE = timedelta(days=30)
# A sign-in started for a client must be finished within this time.
PENDING_REQUEST_LIFETIME = timedelta(minutes=30)

SCOPE_OPENID = "openid"
SCOPE_PROFILE = "profile"
SCOPE_EMAIL = "email"
SCOPE_OFFLINE = "offline_access"
SCOPES = (SCOPE_OPENID, SCOPE_PROFILE, SCOPE_EMAIL, SCOPE_OFFLINE)

PROMPT_NONE = "none"
PROMPT_LOGIN = "login"

_PHISHING_RESISTANT = {Method.HARDWARE_KEY, Method.SOFTWARE_KEY}
_SECOND_FACTORS = {Method.TOTP, Method.RECOVERY_CODE, Method.SMS, *_PHISHING_RESISTANT}


def amr_claim(methods: Iterable[Method]) -> list[str]:
    """RFC 8176 values for the methods a session used, in a stable order: `otp` for an
    authenticator app or a recovery code, `sms` for a texted code, `hwk` / `swk` for a
    security key or passkey (synced: `swk`), `user` for the device's user verification, and
    `mfa` with any second factor."""
    used = set(methods)
    values = ["pwd"] if Method.PASSWORD in used else []
    if used & {Method.TOTP, Method.RECOVERY_CODE}:
        values.append("otp")
    if Method.SMS in used:
        values.append("sms")
    for method in (Method.HARDWARE_KEY, Method.SOFTWARE_KEY, Method.USER_VERIFICATION):
        if method in used:
            values.append(method.value)
    if used & _SECOND_FACTORS:
        values.append("mfa")
    return values


def has_second_factor(methods: Iterable[Method]) -> bool:
    return bool(set(methods) & _SECOND_FACTORS)


def is_phishing_resistant(methods: Iterable[Method]) -> bool:
    return bool(set(methods) & _PHISHING_RESISTANT)


def acr_claim(methods: Iterable[Method]) -> str:
    """The level reached: phr (a WebAuthn second factor) satisfies a request for mfa too."""
    if is_phishing_resistant(methods):
        return ACR_PHISHING_RESISTANT
    return ACR_TWO_FACTOR if has_second_factor(methods) else ACR_PASSWORD


def requested_scopes(scope: str) -> list[str]:
    """The scopes Twofold knows, in request order, once each; unknown ones are ignored
    (RFC 6749 §3.3 lets the server grant fewer than asked)."""
    asked = scope.split()
    return [s for s in dict.fromkeys(asked) if s in SCOPES]


@dataclass(frozen=True)
class FreshnessDemand:
    """What the client asked about how recent the sign-in must be."""

    requested_at: datetime  # when the client's request arrived
    prompt_login: bool  # prompt=login: a sign-in after the request
    max_age: int | None  # seconds since the sign-in, at most


def needs_fresh_sign_in(auth_time: datetime, demand: FreshnessDemand, now: datetime) -> bool:
    """True when the person must sign in again before a code is issued (OIDC Core §3.1.2.1)."""
    if demand.prompt_login and auth_time < demand.requested_at:
        return True
    return demand.max_age is not None and (now - auth_time).total_seconds() > demand.max_age
