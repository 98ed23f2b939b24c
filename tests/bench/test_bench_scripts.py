"""The benchmarks' non-timing parts: their statistics, reading the load generator's summary,
and seeding people in bulk. No time is asserted here (benchmarks report, tests check)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from twofold.otp.clock import unix_time
from twofold.otp.hotp import hotp
from twofold.services import second_factor
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.totp_secrets import open_secret
from twofold.store.models import ApiKey, Authenticator, Membership, User

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import benchlib
import service


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(100, 0, -1)]  # 1..100, unordered
    assert benchlib.percentile(samples, 0.5) == 50.0
    assert benchlib.percentile(samples, 0.99) == 99.0
    assert benchlib.percentile(samples, 1.0) == 100.0
    assert benchlib.percentile([7.0], 0.99) == 7.0
    assert benchlib.percentile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_percentiles_refuse_nothing_to_measure() -> None:
    with pytest.raises(ValueError, match="no samples"):
        benchlib.percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        benchlib.percentile([1.0], 0.0)


def test_a_summary_counts_requests_per_second_and_its_errors() -> None:
    summary = benchlib.summarize([0.001] * 98 + [0.010, 0.020], errors=3, seconds=4.0)
    assert summary.requests == 100
    assert summary.per_second == 25.0
    assert summary.errors == 3
    assert summary.p50 == 0.001
    assert summary.p99 == 0.010
    empty = benchlib.summarize([], errors=5, seconds=1.0)
    assert empty.per_second == 0.0
    assert math.isnan(empty.p50)


def test_the_load_generators_summary_counts_only_expected_answers() -> None:
    line = "BENCH " + json.dumps(
        {
            "requests": 1010,
            "seconds": 10.0,
            "p50_us": 2500,
            "p99_us": 19000,
            "max_us": 30000,
            "answered": 1000,
            "unexpected": 3,
            "exhausted": 2,
            "connect": 0,
            "read": 1,
            "write": 0,
            "timeout": 4,
        }
    )
    summary = service.parse_wrk(line)
    assert summary.requests == 995
    assert summary.errors == 3 + 2 + 1 + 4
    assert summary.per_second == 99.5
    assert summary.p50 == 0.0025
    assert summary.p99 == 0.019


def test_people_are_spread_over_the_whole_table() -> None:
    assert service.sample(10, 20) == list(range(1, 11))
    picked = service.sample(1_000_000, 4)
    assert picked == [1, 250_001, 500_001, 750_001]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_seeding_makes_members_whose_codes_verify(runtime: Runtime) -> None:
    base = service.seed_base(runtime)
    service.seed_people(runtime, base.org_id, 1, 101)
    with runtime.db() as db:
        seeded = select(User).where(User.login.like("u%"))
        assert db.scalar(select(func.count()).select_from(seeded.subquery())) == 100
        members = select(func.count()).where(Membership.organization_id == base.org_id)
        assert db.scalar(members) == 101  # and the person signed in for /auth/forward
        person = db.scalars(select(User).where(User.login == service.login_of(42))).one()
        authenticator = db.scalars(
            select(Authenticator).where(Authenticator.user_id == person.id)
        ).one()
        assert authenticator.confirmed_at is not None
        assert open_secret(runtime, authenticator, person.id) == service.bench_secret(42)
        keys = db.scalars(select(ApiKey)).all()
        assert len(keys) == service.KEYS
        assert {k.requests_per_minute for k in keys} == {100_000}
        code = hotp(service.bench_secret(42), unix_time(runtime.now()) // 30)
        client = ClientInfo(ip="127.0.0.1", user_agent="test")
        method = second_factor.verify_for_api_key(
            db, runtime, keys[0], service.login_of(42), code, client
        )
        assert method is not None
