"""Request-rate limits (decision 0023): how a rate is written, what each limit counts, and
which requests no limit counts. They are short-lived brakes on floods, counted by
services/rate_limits.py in Redis or in the process; the durable counters (lockout, password
throttle, the key budgets) are the database's and are not these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_AMOUNT = 10_000_000
OFF = frozenset({"0", "off"})

# After Redis failed to answer, limits are counted in the process for this long before Redis
# is tried again: one slow attempt per interval, not one per request.
REDIS_RETRY = timedelta(seconds=10)


class Scope(StrEnum):
    """What one limit counts."""

    ADDRESS = "ip"  # every request from one client address
    API_KEY = "api_key"  # requests authenticated by one organization API key
    OIDC_CLIENT = "oidc_client"  # token requests of one OpenID Connect client


@dataclass(frozen=True)
class Rate:
    """At most `amount` requests per `seconds`."""

    amount: int
    seconds: int

    def __str__(self) -> str:
        unit = next((name for name, length in PERIODS.items() if length == self.seconds), None)
        return f"{self.amount}/{unit}" if unit else f"{self.amount}/{self.seconds}s"


def per_minute(amount: int) -> Rate:
    return Rate(amount, PERIODS["minute"])


def parse_rate(text: str) -> Rate | None:
    """`300/minute` (second, minute, hour or day; `300 per minute` too); None for `0` or
    `off`, no limit. ValueError says what is wrong."""
    value = " ".join(text.strip().lower().split())
    if value in OFF:
        return None
    amount, sep, unit = value.replace(" per ", "/").partition("/")
    unit = unit.strip().removesuffix("s")
    amount = amount.strip()
    if not sep or not amount.isascii() or not amount.isdigit() or unit not in PERIODS:
        raise ValueError(
            f"write a rate as <count>/<second|minute|hour|day>, such as 300/minute, or 0 or "
            f"off for no limit; not {text!r}"
        )
    count = int(amount)
    if not 1 <= count <= MAX_AMOUNT:
        raise ValueError(f"the count must be from 1 to {MAX_AMOUNT} (or 0 for no limit)")
    return Rate(count, PERIODS[unit])


# Never counted by the per-address limit: the stylesheets and scripts every page loads, the
# probes of load balancers and monitoring, and forward-auth, which the reverse proxy calls
# once for every request it proxies (for one page, one call per image and script), on
# behalf of everyone behind it.
EXEMPT_PREFIXES = ("/static/",)
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/auth/forward"})


# Counted by their caller's own limit when it proves who it is (an API key, an OIDC client's
# credentials), else by the address: an application server sends every user's requests from
# one address, which the per-address limit would otherwise cap for all of them.
COUNTED_BY_CREDENTIAL = frozenset({"/api/v1/verify", "/oidc/token"})


def is_exempt(path: str) -> bool:
    """True when the per-address limit does not count this path at the door."""
    return path in EXEMPT_PATHS or path in COUNTED_BY_CREDENTIAL or path.startswith(EXEMPT_PREFIXES)
