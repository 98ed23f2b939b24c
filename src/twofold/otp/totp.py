"""RFC 6238 TOTP: HOTP over 30-second time steps, with a small window and replay refusal."""

from dataclasses import dataclass
from typing import NamedTuple

from twofold.otp.codes import is_numeric_code
from twofold.otp.hotp import ALGORITHMS, hotp, matching_counters

_TOTP_DIGITS = (6, 8)  # what authenticator apps actually display
_MIN_PERIOD = 15
_MAX_PERIOD = 300


@dataclass(frozen=True)
class TotpParams:
    """How one enrolled authenticator computes its codes; checked once, here."""

    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if not isinstance(self.digits, int) or self.digits not in _TOTP_DIGITS:
            raise ValueError(f"digits must be one of {_TOTP_DIGITS}, got {self.digits!r}")
        if not isinstance(self.period, int) or not _MIN_PERIOD <= self.period <= _MAX_PERIOD:
            raise ValueError(
                f"period must be between {_MIN_PERIOD} and {_MAX_PERIOD} seconds, "
                f"got {self.period!r}"
            )


_DEFAULT_PARAMS = TotpParams()


def time_step(unix_seconds: int, period: int = 30) -> int:
    """The RFC 6238 counter T = floor(unix time / period)."""
    if not isinstance(unix_seconds, int) or unix_seconds < 0:
        raise ValueError("unix_seconds must be a non-negative integer")
    if not isinstance(period, int) or period < 1:
        raise ValueError("period must be a positive integer")
    return unix_seconds // period


def totp_at(secret: bytes, unix_seconds: int, params: TotpParams = _DEFAULT_PARAMS) -> str:
    """The code an authenticator shows at `unix_seconds`."""
    step = time_step(unix_seconds, params.period)
    return hotp(secret, step, digits=params.digits, algorithm=params.algorithm)


def matching_steps(
    secret: bytes,
    code: str,
    unix_seconds: int,
    params: TotpParams = _DEFAULT_PARAMS,
    *,
    window: int = 1,
) -> list[int]:
    """Steps within `window` of now whose code equals `code`, ascending.

    Every candidate is computed and compared in constant time, with no early exit, so the
    response time does not reveal which step (if any) matched.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    if not isinstance(window, int) or window < 0:
        raise ValueError("window must be a non-negative integer")
    current = time_step(unix_seconds, params.period)
    if not is_numeric_code(code, params.digits):
        return []  # a malformed code is the user's mistake, not an error
    first = current - window if current > window else 0
    steps = range(first, current + window + 1)
    return matching_counters(secret, steps, code, digits=params.digits, algorithm=params.algorithm)


class TotpVerdict(NamedTuple):
    """What one code is worth now: the step to record as used, or why it is refused."""

    step: int | None  # the step to record as used; None: refuse the code
    replayed: bool = False  # refused because every step it matches was used already

    @property
    def accepted(self) -> bool:
        return self.step is not None


_REFUSED = TotpVerdict(None)
_REPLAYED = TotpVerdict(None, replayed=True)


def verify_totp(
    secret: bytes,
    code: str,
    unix_seconds: int,
    params: TotpParams = _DEFAULT_PARAMS,
    *,
    window: int = 1,
    last_used_step: int | None = None,
) -> TotpVerdict:
    """THE replay rule (RFC 6238 section 5.2): the first step within `window` whose code
    equals `code` and that comes after `last_used_step`, so an observed code cannot be
    replayed. A code that matches only used steps is `replayed`; one that matches nothing is
    simply refused. Recording the step (once, under concurrency) is the caller's part."""
    steps = matching_steps(secret, code, unix_seconds, params, window=window)
    for step in steps:
        if last_used_step is None or step > last_used_step:
            return TotpVerdict(step)
    return _REPLAYED if steps else _REFUSED
