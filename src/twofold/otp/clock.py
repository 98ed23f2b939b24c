"""Injectable time source, so TOTP checks can be tested without sleeping."""

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


def _require_aware(moment: datetime) -> datetime:
    """Naive datetimes are ambiguous about the zone, so they are refused outright."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC)


class SystemClock:
    """The real clock, used in production."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to, for deterministic tests."""

    def __init__(self, now: datetime) -> None:
        self._now = _require_aware(now)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward (or back, if negative) by `seconds`."""
        self._now += timedelta(seconds=seconds)

    def set(self, now: datetime) -> None:
        self._now = _require_aware(now)


def unix_time(moment: datetime) -> int:
    """Whole seconds since the epoch, floored; exact even far from 1970 (no float rounding)."""
    return (_require_aware(moment) - _EPOCH) // _ONE_SECOND
