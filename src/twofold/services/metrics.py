"""Every metric Twofold exports, defined once (docs/deploy.md lists them).

The services count an outcome where they decide it (sign-in, the verify endpoint, lockouts,
mail delivery); the web layer counts requests (web/metrics.py). No label ever holds a user,
a login name, an address, an id or a raw path: only the small fixed sets named below.

prometheus-client chooses between in-process and multiprocess values when it is first
imported (by PROMETHEUS_MULTIPROC_DIR), so nothing here imports it before the first count:
`twofold serve` sets that directory (web.metrics.prepare_multiprocess) after the CLI has
imported the services, and the test launcher's fork server imports them with no directory."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

# Latency buckets in seconds: fine below 25 ms, where a verify or a page should answer.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

PasswordOutcome = Literal["ok", "refused", "throttled"]
CodeOutcome = Literal["ok", "refused", "locked"]
VerifyOutcome = Literal["ok", "refused", "sent", "not_sent"]
LockoutKind = Literal["timed", "until_unlocked", "api_key"]
CodeMethod = Literal["totp", "recovery_code", "sms", "passkey"]


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_duration: Histogram
    sign_in_password: Counter
    sign_in_second_factor: Counter
    api_verify: Counter
    lockouts: Counter
    mail_sent: Counter
    mail_failed: Counter


@functools.cache
def registered() -> Metrics:
    """The metrics, made (and registered in prometheus-client's default registry) on first
    use, in whichever mode the process runs by then."""
    from prometheus_client import Counter, Histogram, disable_created_metrics

    disable_created_metrics()  # type: ignore[no-untyped-call]  # none in multiprocess mode
    return Metrics(
        http_requests=Counter(
            "twofold_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
        ),
        http_duration=Histogram(
            "twofold_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
        ),
        sign_in_password=Counter(
            "twofold_sign_in_password",
            "Password steps of sign-in (pages and API): ok, refused, or throttled.",
            ["outcome"],
        ),
        sign_in_second_factor=Counter(
            "twofold_sign_in_second_factor",
            "Second-factor steps of sign-in, by method: ok, refused, or locked.",
            ["method", "outcome"],
        ),
        api_verify=Counter(
            "twofold_api_verify",
            "POST /api/v1/verify outcomes by method: ok, refused; for sms also sent, not_sent.",
            ["method", "outcome"],
        ),
        lockouts=Counter(
            "twofold_lockouts",
            "Locks that started: timed (sign-in codes), until_unlocked (the hard stop), "
            "api_key (a key's budget for one person spent).",
            ["kind"],
        ),
        mail_sent=Counter("twofold_mail_sent", "Emails handed to the mail server."),
        mail_failed=Counter(
            "twofold_mail_failed",
            "Email delivery attempts that failed; final: given up after the last retry.",
            ["final"],
        ),
    )


def sign_in_password(outcome: PasswordOutcome) -> None:
    registered().sign_in_password.labels(outcome).inc()


def sign_in_second_factor(method: CodeMethod, outcome: CodeOutcome) -> None:
    registered().sign_in_second_factor.labels(method, outcome).inc()


def api_verify(method: CodeMethod, outcome: VerifyOutcome) -> None:
    registered().api_verify.labels(method, outcome).inc()


def lockout(kind: LockoutKind) -> None:
    registered().lockouts.labels(kind).inc()


def mail_sent() -> None:
    registered().mail_sent.inc()


def mail_failed(*, final: bool) -> None:
    registered().mail_failed.labels("true" if final else "false").inc()
