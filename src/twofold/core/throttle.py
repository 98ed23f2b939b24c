"""Growing delays after wrong passwords. Password failures never lock an account (anyone
could lock anyone out); each further failure only makes the next attempt wait longer."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_DELAY_SECONDS = 300
FREE_FAILURES_PER_ACCOUNT = 3
FREE_FAILURES_PER_IP = 20


def delay_after(failures: int, free_failures: int) -> int:
    """Seconds to wait after `failures` consecutive failures: 0 while free, then 1, 2, 4 …"""
    over = failures - free_failures
    if over <= 0:
        return 0
    return int(min(MAX_DELAY_SECONDS, 2 ** (over - 1)))


def seconds_to_wait(
    failures: int, last_failure_at: datetime, free_failures: int, now: datetime
) -> int:
    ready_at = last_failure_at + timedelta(seconds=delay_after(failures, free_failures))
    remaining = (ready_at - now).total_seconds()
    return max(0, int(remaining + 0.999))
