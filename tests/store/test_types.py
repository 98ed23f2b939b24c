"""UTCDateTime: aware UTC in, aware UTC out, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from support import START
from twofold.services.runtime import Runtime
from twofold.store.models import Organization, UTCDateTime

PARIS_SUMMER = timezone(timedelta(hours=2))


def store_and_read(runtime: Runtime, moment: datetime) -> datetime:
    with runtime.db() as db:
        db.add(
            Organization(slug="acme", name="Acme", two_factor_policy="optional", created_at=moment)
        )
        db.commit()
    with runtime.db() as db:
        stored = db.scalar(select(Organization.created_at).where(Organization.slug == "acme"))
        assert stored is not None
        return stored


def test_a_naive_datetime_is_refused_before_it_reaches_the_database() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 3, 1, 12, 0), dialect=None)  # type: ignore[arg-type]


def test_a_naive_datetime_in_a_row_fails_the_write(runtime: Runtime) -> None:
    with runtime.db() as db:
        db.add(
            Organization(
                slug="acme",
                name="Acme",
                two_factor_policy="optional",
                created_at=datetime(2026, 3, 1),
            )
        )
        with pytest.raises(StatementError) as caught:
            db.commit()
    assert isinstance(caught.value.orig, ValueError)


def test_a_utc_datetime_comes_back_equal_and_aware(runtime: Runtime) -> None:
    stored = store_and_read(runtime, START)
    assert stored == START
    assert stored.tzinfo is UTC


def test_another_time_zone_comes_back_as_the_same_instant_in_utc(runtime: Runtime) -> None:
    local = datetime(2026, 7, 1, 14, 30, tzinfo=PARIS_SUMMER)
    stored = store_and_read(runtime, local)
    assert stored == local
    assert stored.tzinfo is UTC
    assert (stored.hour, stored.minute) == (12, 30)


def test_microseconds_survive_the_round_trip(runtime: Runtime) -> None:
    moment = START.replace(microsecond=123456)
    assert store_and_read(runtime, moment) == moment


def test_none_is_stored_as_null() -> None:
    column = UTCDateTime()
    assert column.process_bind_param(None, dialect=None) is None  # type: ignore[arg-type]
    assert column.process_result_value(None, dialect=None) is None  # type: ignore[arg-type]
