"""Benchmark: the admin members table (search, 2FA status filter, sort, server-side
pagination) and the adoption figure for one organization of 100,000 members; then its audit
log of 100,000 events: the page (as an organization admin and as a super-admin) and the
streamed CSV export, with its peak memory (tracemalloc).

Seeds a fresh SQLite file in a temporary directory — and, when TWOFOLD_BENCH_DATABASE_URL is
set, a dedicated PostgreSQL database whose public schema is dropped and recreated first (never
point it at a database anything else uses). Rows are inserted in bulk with SQLAlchemy Core and
one precomputed password hash and one sealed dummy secret, so seeding costs seconds, not hours
of argon2.

Run with `make bench-admin`; paste the output into docs/benchmarks.md with the date and machine.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text

from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import PERMANENT_LOCK_AT
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.services import admin_scope, audit_log, members
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.db import make_engine
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    Membership,
    Organization,
    RecoveryCode,
    User,
)

MEMBERS = 100_000
WITH_2FA = 0.60  # share of members with a confirmed authenticator
PENDING_2FA = 0.02  # share who started enrolling and never confirmed (not "enabled")
WITH_CODES = 1_000  # members with recovery codes: 10 rows each
LOCKED_TEMPORARILY = 0.004
LOCKED_PERMANENTLY = 0.001
NEVER_SIGNED_IN = 0.08
ADMINS = 20
BATCH = 20_000
RUNS = 20
EVENTS = 100_000
SHARED = 1_000  # Acme members who are also in Bank: Bank's events about them are not Acme's
EXPORT_RUNS = 3
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = words(
    "james mary john patricia robert jennifer michael linda william elizabeth david barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher nancy daniel lisa "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily "
    "andrew donna joshua michelle kenneth carol kevin amanda brian melissa george deborah "
    "timothy stephanie ronald rebecca jason sharon edward laura jeffrey cynthia ryan amy "
    "jacob kathleen gary angela nicholas shirley eric anna jonathan brenda stephen pamela "
    "larry emma justin nicole scott helen brandon samantha benjamin katherine samuel "
    "christine gregory debra alexander rachel frank carolyn patrick janet raymond maria "
    "jack olivia dennis heather jerry diane tyler julie aaron joyce jose victoria adam ruth "
    "nathan virginia henry lauren zachary kelly douglas christina peter joan kyle evelyn "
    "noah judith ethan andrea jeremy hannah walter megan christian cheryl keith jacqueline "
    "roger martha terry gloria austin teresa sean ann gerald sara carl madison harold "
    "frances dylan kathryn arthur janice lawrence jean jordan abigail jesse alice bryan "
    "judy billy sophia bruce grace"
)
LAST_NAMES = words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell "
    "carter roberts gomez phillips evans turner diaz parker cruz edwards collins reyes "
    "stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper peterson "
    "bailey reed kelly howard ramos kim cox ward richardson watson brooks chavez wood james "
    "bennett gray mendoza ruiz hughes price alvarez castillo sanders patel myers long ross "
    "foster jimenez powell jenkins perry russell sullivan bell coleman butler henderson "
    "barnes gonzales fisher vasquez simmons romero jordan patterson alexander hamilton "
    "graham reynolds griffin wallace moreno west cole hayes bryant herrera gibson ellis "
    "tran medina aguilar stevens murray ford castro marshall owens harrison fernandez "
    "mcdonald woods washington kennedy wells vargas henry chen freeman webb tucker guzman "
    "burns crawford olson simpson porter hunter gordon mendez"
)
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.com")


# --- seeding ------------------------------------------------------------------------------


def reset_postgres_schema(url: str) -> None:
    """A clean public schema in the dedicated benchmark database."""
    engine = make_engine(url)
    database = engine.url.database or ""
    if database in {"test", "test_lead"} or database.startswith("test_helper"):
        raise SystemExit(f"refusing to wipe {database!r}: use a dedicated database (e.g. bench)")
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def batches(rows: list[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def seed(runtime: Runtime, rng: random.Random) -> Organization:
    """One organization of MEMBERS members, inserted in bulk (Core executemany)."""
    started = time.perf_counter()
    password_hash = runtime.hasher.hash("correct horse battery staple")
    kid, sealed = runtime.keys.seal(b"\x00" * 20, context=b"bench:dummy-secret")
    engine = runtime.engine

    def progress(what: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        print(f"  {what}: {done:,}/{total:,} ({elapsed:,.1f} s)", file=sys.stderr, flush=True)

    with engine.begin() as connection:
        org_id = connection.execute(
            insert(Organization)
            .values(slug="acme", name="Acme", two_factor_policy="optional", created_at=NOW)
            .returning(Organization.id)
        ).scalar_one()

    users: list[dict[str, Any]] = []
    year = 365 * 24 * 3600
    for n in range(MEMBERS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        login = f"{first}.{last}{n}"
        created = NOW - timedelta(seconds=rng.randrange(2 * year))
        roll = rng.random()
        failed, locked_until = 0, None
        if roll < LOCKED_PERMANENTLY:
            failed = PERMANENT_LOCK_AT + rng.randrange(20)
        elif roll < LOCKED_PERMANENTLY + LOCKED_TEMPORARILY:
            failed = 10 * rng.randint(1, 5)
            locked_until = NOW + timedelta(minutes=rng.randint(1, 240))
        elif roll < 0.02:  # a lock that has already run out: not locked
            failed = 10
            locked_until = NOW - timedelta(minutes=rng.randint(1, 10_000))
        users.append(
            {
                "login": login,
                "email": f"{login}@{rng.choice(DOMAINS)}",
                "email_verified_at": created,
                "password_hash": password_hash,
                "is_superadmin": False,
                "is_active": rng.random() > 0.01,
                "created_at": created,
                "last_sign_in_at": None
                if rng.random() < NEVER_SIGNED_IN
                else NOW - timedelta(seconds=rng.randrange(year)),
                "failed_code_count": failed,
                "code_locked_until": locked_until,
            }
        )
    with engine.begin() as connection:
        for done, chunk in enumerate(batches(users), start=1):
            connection.execute(insert(User), chunk)
            progress("users", min(done * BATCH, MEMBERS), MEMBERS)
        user_ids = list(connection.scalars(select(User.id).order_by(User.id)))
    del users

    memberships = [
        {
            "user_id": user_id,
            "organization_id": org_id,
            "role": "admin" if n < ADMINS else "member",
            "created_at": NOW - timedelta(days=rng.randrange(700)),
        }
        for n, user_id in enumerate(user_ids)
    ]
    with engine.begin() as connection:
        for done, chunk in enumerate(batches(memberships), start=1):
            connection.execute(insert(Membership), chunk)
            progress("memberships", min(done * BATCH, MEMBERS), MEMBERS)
    del memberships

    shuffled = user_ids[:]
    rng.shuffle(shuffled)
    enabled = shuffled[: int(MEMBERS * WITH_2FA)]
    pending = set(shuffled[int(MEMBERS * WITH_2FA) : int(MEMBERS * (WITH_2FA + PENDING_2FA))])
    authenticators = [
        {
            "user_id": user_id,
            "kind": "totp",
            "secret_kid": kid,
            "secret_sealed": sealed,
            "algorithm": "SHA1",
            "digits": 6,
            "period": 30,
            "created_at": NOW - timedelta(days=400),
            "confirmed_at": None if user_id in pending else NOW - timedelta(days=399),
        }
        for user_id in [*enabled, *pending]
    ]
    with engine.begin() as connection:
        for done, chunk in enumerate(batches(authenticators), start=1):
            connection.execute(insert(Authenticator), chunk)
            progress("authenticators", min(done * BATCH, len(authenticators)), len(authenticators))
    del authenticators

    codes = [
        {
            "user_id": user_id,
            "key_id": kid,
            "code_digest": rng.randbytes(32),
            "created_at": NOW - timedelta(days=399),
            "used_at": NOW - timedelta(days=rng.randrange(300)) if i < rng.randrange(4) else None,
        }
        for user_id in enabled[:WITH_CODES]
        for i in range(10)
    ]
    with engine.begin() as connection:
        connection.execute(insert(RecoveryCode), codes)
        progress("recovery codes", len(codes), len(codes))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))  # what autovacuum would do after a bulk load
    seed_events(runtime, rng, org_id, user_ids, progress)
    with runtime.db() as db:
        organization = db.get_one(Organization, org_id)
        db.expunge(organization)
    return organization


def seed_events(
    runtime: Runtime,
    rng: random.Random,
    org_id: int,
    user_ids: list[int],
    progress: Callable[[str, int, int], None],
) -> None:
    """EVENTS audit events over a year: the members' own (sign-ins, wrong passwords and codes,
    2FA changes), Acme's (memberships, resets by an admin) and Bank's about the SHARED members
    Bank shares with Acme (an Acme admin must not see these)."""
    engine = runtime.engine
    with engine.begin() as connection:
        bank_id = connection.execute(
            insert(Organization)
            .values(slug="bank", name="Bank", two_factor_policy="optional", created_at=NOW)
            .returning(Organization.id)
        ).scalar_one()
        shared = user_ids[ADMINS : ADMINS + SHARED]
        connection.execute(
            insert(Membership),
            [
                {"user_id": u, "organization_id": bank_id, "role": "member", "created_at": NOW}
                for u in shared
            ],
        )
    own = [
        (AuditEventType.SIGN_IN_SUCCEEDED, 50),
        (AuditEventType.SIGN_IN_PASSWORD_FAILED, 15),
        (AuditEventType.SECOND_FACTOR_FAILED, 10),
        (AuditEventType.TWO_FACTOR_ENABLED, 5),
    ]
    kinds = [kind for kind, weight in own for _ in range(weight)]
    agents = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        '=HYPERLINK("http://evil.example")',
    )
    year = 365 * 24 * 3600
    rows: list[dict[str, Any]] = []
    for n in range(EVENTS):
        roll = rng.random()
        user_id, organization_id, actor_id = rng.choice(user_ids), None, None
        detail = "{}"
        if roll < 0.80:
            kind = rng.choice(kinds)
        elif roll < 0.90:
            kind, organization_id = AuditEventType.MEMBERSHIP_ADDED, org_id
            detail = '{"role": "member"}'
        elif roll < 0.95:
            kind, actor_id = AuditEventType.TWO_FACTOR_RESET_BY_ADMIN, rng.choice(user_ids[:ADMINS])
            detail = '{"reason": "lost phone", "sessions_ended": 1}'
        else:
            user_id, organization_id = rng.choice(shared), bank_id
            kind = rng.choice((AuditEventType.MEMBERSHIP_ADDED, AuditEventType.MEMBERSHIP_REMOVED))
        rows.append(
            {
                "occurred_at": NOW - timedelta(seconds=rng.randrange(year)),
                "event": kind.value,
                "user_id": user_id,
                "actor_id": actor_id,
                "organization_id": organization_id,
                "ip": f"198.51.100.{n % 250 + 1}",
                "user_agent": rng.choice(agents),
                "detail": detail,
            }
        )
    with engine.begin() as connection:
        for done, chunk in enumerate(batches(rows), start=1):
            connection.execute(insert(AuditEvent), chunk)
            progress("audit events", min(done * BATCH, EVENTS), EVENTS)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))


# --- timing -------------------------------------------------------------------------------


def timed(label: str, fn: Callable[[], object], runs: int = RUNS) -> tuple[float, object]:
    result = fn()  # warm-up (caches, statement compilation)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    print(f"| {label} | {runs} | {median * 1e3:,.1f} ms | {p95 * 1e3:,.1f} ms |", flush=True)
    return median, result


def bench_queries(runtime: Runtime, organization: Organization, backend: str) -> None:
    def members(**kwargs: Any) -> Callable[[], members.MemberPage]:
        def run() -> members.MemberPage:
            with runtime.db() as db:
                return members.list_members(db, runtime, organization, **kwargs)

        return run

    def adoption() -> members.Adoption:
        with runtime.db() as db:
            return members.adoption(db, organization)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("first page, sorted by login", members()),
        ("middle page (1000), sorted by login", members(page=1000)),
        ("last page (2000), sorted by login", members(page=2000)),
        ('search "mart" (login or email substring)', members(search="mart")),
        ("status = enabled", members(status="enabled")),
        ("status = not_enabled", members(status="not_enabled")),
        ("status = locked", members(status="locked")),
        ("sorted by last sign-in, newest first", members(sort="last_sign_in", descending=True)),
        ("sorted by 2FA status", members(sort="two_factor")),
        ("members.adoption()", adoption),
    ]
    print(f"\n{backend}, {MEMBERS:,} members, {members.PER_PAGE} rows a page\n")
    print("| what | runs | median | p95 |")
    print("|---|---|---|---|")
    results = {label: timed(f"{backend}: {label}", fn)[1] for label, fn in cases}
    print()
    for label, result in results.items():
        if isinstance(result, members.MemberPage):
            print(f"  {label}: {result.total:,} matching, page {result.page}/{result.pages}")
        elif isinstance(result, members.Adoption):
            print(f"  {label}: {result.with_two_factor:,}/{result.members:,} ({result.percent}%)")


def bench_audit(runtime: Runtime, organization: Organization, backend: str) -> None:
    """The audit page (one page and its logins, as the console does) and the CSV export."""
    org_admin = admin_scope.AdminScope(
        admin=None, superadmin=False, organization_ids=frozenset({organization.id})
    )
    superadmin = admin_scope.AdminScope(admin=None, superadmin=True, organization_ids=frozenset())
    with runtime.db() as db:  # a member Bank shares with Acme
        shared_login = db.scalar(
            select(User.login)
            .join(Membership, Membership.user_id == User.id)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Organization.slug == "bank")
            .order_by(User.id)
            .limit(1)
        )

    def page(scope: admin_scope.AdminScope, **kwargs: Any) -> Callable[[], int]:
        number = int(kwargs.pop("page", 1))

        def run() -> int:
            with runtime.db() as db:
                rows, total = audit_log.audit_page(
                    db, scope, organization, audit_log.AuditFilter(**kwargs), page=number
                )
                audit_log.logins_of(db, rows)
                return total

        return run

    def export(scope: admin_scope.AdminScope) -> Callable[[], int]:
        def run() -> int:
            with runtime.db() as db:
                chunks = audit_log.audit_export(
                    db, runtime, scope, organization, audit_log.AuditFilter()
                )
                return sum(len(chunk) for chunk in chunks)

        return run

    def before_export(scope: admin_scope.AdminScope) -> Callable[[], int]:
        """For comparison, what the export did before: every login of every user in a dict,
        every matching event loaded as an object, the whole file built in memory."""

        def run() -> int:
            import csv
            import io

            with runtime.db() as db:
                logins = dict(db.execute(select(User.id, User.login)).all())
                out = io.StringIO()
                writer = csv.writer(out)
                query = audit_log.audit_query(scope, organization, audit_log.AuditFilter(), db)
                for event in db.scalars(query):
                    writer.writerow(
                        [
                            event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                            event.event,
                            logins.get(event.user_id, "") if event.user_id else "",
                            logins.get(event.actor_id, "") if event.actor_id else "",
                            event.ip or "",
                            event.user_agent or "",
                            event.detail,
                        ]
                    )
                return len(out.getvalue())

        return run

    pages: list[tuple[str, Callable[[], object]]] = [
        ("audit page 1, org admin", page(org_admin)),
        ("audit page 1, super-admin", page(superadmin)),
        ("audit page 500, org admin", page(org_admin, page=500)),
        (
            "audit page 1, org admin, filtered to a shared member",
            page(org_admin, member=shared_login or ""),
        ),
        (
            "audit page 1, org admin, event = sign_in.password_failed",
            page(org_admin, event=AuditEventType.SIGN_IN_PASSWORD_FAILED.value),
        ),
    ]
    print(f"\n{backend}, {EVENTS:,} audit events, 100 rows a page\n")
    print("| what | runs | median | p95 |")
    print("|---|---|---|---|")
    totals = {label: timed(f"{backend}: {label}", fn)[1] for label, fn in pages}
    exports: list[tuple[str, Callable[[], int]]] = [
        ("CSV export, org admin (streamed)", export(org_admin)),
        ("CSV export, super-admin (streamed)", export(superadmin)),
        (
            "CSV export, org admin, before (all logins, whole file in memory)",
            before_export(org_admin),
        ),
    ]
    sizes = {label: timed(f"{backend}: {label}", fn, EXPORT_RUNS)[1] for label, fn in exports}
    print()
    for label, total in totals.items():
        print(f"  {label}: {total:,} matching events")
    for label, fn in exports:
        tracemalloc.start()
        fn()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = int(str(sizes[label]))
        print(f"  {label}: {size / 1e6:,.1f} MB of CSV, peak Python memory {peak / 1e6:,.1f} MB")


def run(backend: str, data_dir: Path, database_url: str | None) -> None:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_keys=KeyRing.generate("b1").to_text(),
    )
    if database_url is not None:
        reset_postgres_schema(database_url)
    runtime = build_runtime(
        settings,
        clock=FixedClock(NOW),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=True,
    )
    print(f"\nSeeding {MEMBERS:,} members on {backend}…", file=sys.stderr, flush=True)
    organization = seed(runtime, random.Random(5))
    if not os.environ.get("TWOFOLD_BENCH_AUDIT_ONLY"):
        bench_queries(runtime, organization, backend)
    bench_audit(runtime, organization, backend)
    runtime.engine.dispose()


def main() -> None:
    import sqlite3

    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    cpu = platform.processor() or platform.machine()
    print(
        f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    print("Load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("Command: make bench-admin")
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", Path(tmp), None)
    postgres_url = os.environ.get("TWOFOLD_BENCH_DATABASE_URL")
    if postgres_url:
        with tempfile.TemporaryDirectory() as tmp:
            run("PostgreSQL", Path(tmp), postgres_url)
            engine: Engine = make_engine(postgres_url)
            with engine.connect() as connection:
                print(f"\n{connection.scalar(text('select version()'))}")
            engine.dispose()


if __name__ == "__main__":
    main()
