"""Framework-free one-time-password core: HOTP/TOTP, secrets, otpauth URIs, recovery codes.

Standard library only, so it can be tested (and trusted) without the web stack.
"""

from twofold.otp.clock import Clock, FixedClock, SystemClock, unix_time
from twofold.otp.codes import is_numeric_code, normalize_code
from twofold.otp.hotp import ALGORITHMS, hotp
from twofold.otp.recovery import (
    RECOVERY_CODE_COUNT,
    generate_recovery_code,
    generate_recovery_codes,
    is_well_formed_recovery_code,
    normalize_recovery_code,
)
from twofold.otp.secret import (
    SECRET_BYTES,
    decode_secret,
    encode_secret,
    generate_secret,
    group_for_display,
)
from twofold.otp.totp import (
    TotpParams,
    TotpVerdict,
    matching_steps,
    time_step,
    totp_at,
    verify_totp,
)
from twofold.otp.uri import provisioning_uri

__all__ = [
    "ALGORITHMS",
    "RECOVERY_CODE_COUNT",
    "SECRET_BYTES",
    "Clock",
    "FixedClock",
    "SystemClock",
    "TotpParams",
    "TotpVerdict",
    "decode_secret",
    "encode_secret",
    "generate_recovery_code",
    "generate_recovery_codes",
    "generate_secret",
    "group_for_display",
    "hotp",
    "is_numeric_code",
    "is_well_formed_recovery_code",
    "matching_steps",
    "normalize_code",
    "normalize_recovery_code",
    "provisioning_uri",
    "time_step",
    "totp_at",
    "unix_time",
    "verify_totp",
]
