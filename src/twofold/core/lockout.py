"""Bounds on guessing the second factor (NIST SP 800-63B §5.2.2: at most 100 in a row).

The count of consecutive wrong codes is reset only by a successful second factor, never by
waiting, so a lock's length grows with every further ten failures.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FAILURES_PER_LOCK = 10
FIRST_LOCK = timedelta(minutes=15)
PERMANENT_LOCK_AT = 100
# Wrong codes in a row one organization API key may send for one person (decision 0017).
KEY_FAILURES_PER_PERSON = 10


def lock_after_failure(
    failed_count: int, now: datetime, key_failures: int = 0
) -> tuple[bool, datetime | None]:
    """For the count just reached: (locks now?, until when — None means until an operator).
    `key_failures`, wrong codes sent through API keys, count toward the hard stop only."""
    if failed_count + key_failures >= PERMANENT_LOCK_AT:
        return True, None
    if failed_count > 0 and failed_count % FAILURES_PER_LOCK == 0:
        doublings = failed_count // FAILURES_PER_LOCK - 1
        return True, now + FIRST_LOCK * (2**doublings)
    return False, None


def next_failure_locks(
    failed_count: int, now: datetime, key_failures: int = 0
) -> tuple[bool, datetime | None]:
    """Whether one more wrong code would lock, and until when (None: until an operator);
    `key_failures` (wrong codes through API keys) bring the hard stop nearer."""
    return lock_after_failure(failed_count + 1, now, key_failures)


def is_locked(
    failed_count: int, locked_until: datetime | None, now: datetime, key_failures: int = 0
) -> bool:
    if failed_count + key_failures >= PERMANENT_LOCK_AT:
        return True
    return locked_until is not None and now < locked_until


def key_failure_outcome(
    pair_failures: int, failed_count: int, key_failures: int
) -> tuple[bool, bool]:
    """After a wrong code through an API key, for the counts just reached: (does the key
    stop answering for this person?, does the person reach the hard stop?). A key never
    sets the pages' timed lock: a leaked key must not lock a person out of the pages."""
    return (
        pair_failures >= KEY_FAILURES_PER_PERSON,
        failed_count + key_failures >= PERMANENT_LOCK_AT,
    )
