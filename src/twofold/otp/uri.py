"""otpauth:// URIs (Google's Key Uri Format), which the enrolment QR code carries."""

from urllib.parse import quote, urlencode

from twofold.otp.secret import encode_secret
from twofold.otp.totp import TotpParams

_DEFAULT_PARAMS = TotpParams()


def provisioning_uri(
    *, secret: bytes, account: str, issuer: str, params: TotpParams = _DEFAULT_PARAMS
) -> str:
    """The URI an authenticator app scans to enrol `account` at `issuer`.

    The issuer goes both in the label prefix and in the query, as the format recommends, and
    every value is percent-encoded (spaces as %20, never '+', which some apps show literally).
    """
    if not issuer.strip():
        raise ValueError("issuer must not be empty")
    if not account.strip():
        raise ValueError("account must not be empty")
    # The label is "issuer:account"; a colon inside either part would make it ambiguous.
    if ":" in issuer:
        raise ValueError("issuer must not contain ':'")
    if ":" in account:
        raise ValueError("account must not contain ':'")
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {
            "secret": encode_secret(secret),
            "issuer": issuer,
            "algorithm": params.algorithm,
            "digits": params.digits,
            "period": params.period,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"
