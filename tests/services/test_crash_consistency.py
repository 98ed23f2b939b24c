"""Crash consistency: a real `twofold serve` (or the `twofold` CLI) is killed with SIGKILL at
named points in the middle of turning 2FA on, regenerating recovery codes and an admin
reset. Afterwards the database holds either the whole change with its audit event or none
of it: never 2FA on without a secret or codes, never half a set of codes, never a change
without its audit event (or an event without its change).

The points are armed through TWOFOLD_TEST_CRASH_AT (services/crash_points.py)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pyotp
import pytest
from sqlalchemy import func, select

from browser.server import server_env
from launcher import Launched, launch
from support import STRONG_PASSWORD, TEST_KEYS, Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.sessions import Method, SessionState
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.otp.secret import encode_secret
from twofold.services import admin_scope, member_actions, sessions
from twofold.services.crash_points import CRASH_AT_ENV
from twofold.services.member_actions import REENROLL_PURPOSE
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.services.totp_secrets import open_secret
from twofold.settings import Settings
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    AuthSession,
    OneTimeToken,
    OutgoingEmail,
    RecoveryCode,
    User,
)

STARTUP_TIMEOUT = 90.0  # generous: a loaded CI machine starts several servers at once
DEATH_TIMEOUT = 15.0
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY_ON_PAGE = re.compile(r'<code id="setup-key"[^>]*>([A-Z2-7 ]+)</code>')
CODES_PER_SET = 10

# Each point sits between two writes of one operation; only the last is after its commit.
ENROLL_POINTS = [
    "enroll.after_step",
    "enroll.after_confirm",
    "enroll.before_commit",
    "enroll.after_commit",
]
REENROLL_POINTS = ["enroll.after_confirm", "enroll.after_commit"]
REGENERATE_POINTS = [
    "recovery_codes.after_delete",
    "regenerate.before_commit",
    "regenerate.after_commit",
]
RESET_POINTS = [
    "reset.after_delete",
    "reset.after_link",
    "reset.before_commit",
    "reset.after_commit",
]
# Every point runs on SQLite; on PostgreSQL (where a dropped connection rolls back the same way
# at any point) the middle of each operation and just after its commit, to keep the time down.
POSTGRES_POINTS = ("after_confirm", "after_delete", "after_commit")


def points_for(settings: Settings, points: list[str]) -> list[str]:
    if settings.uses_embedded_database:
        return points
    return [point for point in points if point.endswith(POSTGRES_POINTS)]


@pytest.fixture
def seeding(settings: Settings) -> Iterator[Runtime]:
    """Services on the test database, a few minutes behind the real server's clock: what
    they set up (a TOTP step used at enrollment) is in the past for the server."""
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    runtime = build_runtime(
        settings, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )
    yield runtime
    runtime.engine.dispose()


def crash_env(settings: Settings, point: str) -> dict[str, str]:
    return {
        **server_env(settings.data_dir),
        "TWOFOLD_DATABASE_URL": settings.resolved_database_url,
        "TWOFOLD_SECRET_KEYS": TEST_KEYS.to_text(),
        "TWOFOLD_MAIL_POLL_SECONDS": "60",  # the queue is checked, not delivered
        CRASH_AT_ENV: point,
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Crashing:
    process: Launched
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_killed(self) -> None:
        """The server died at the crash point: SIGKILL, not an exit or an error page."""
        try:
            self.process.wait(timeout=DEATH_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not die at the crash point:\n{self.output()}")
        assert self.process.returncode == -signal.SIGKILL, self.output()


@contextmanager
def crashing_servers(
    settings: Settings, points: list[str], tmp_path: Path
) -> Iterator[dict[str, Crashing]]:
    """One `twofold serve` per crash point, each with that point armed, all on the test's
    database; started together (start-up is most of the cost) and always stopped."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Crashing] = {}
    try:
        for point in points:
            port = _free_port()
            log = tmp_path / f"serve-{point}.log"
            with log.open("wb") as out:
                process = launch(
                    ["serve", "--data-dir", str(settings.data_dir), "--port", str(port)],
                    env=crash_env(settings, point),
                    stdout=out,
                )
            servers[point] = Crashing(process, f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for server in servers.values():
            while not _healthy(server.base_url):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"twofold serve did not start:\n{server.output()}")
                time.sleep(0.05)  # polling the server's start-up, not waiting for a TOTP step
        yield servers
    finally:
        for server in servers.values():
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=DEATH_TIMEOUT)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def csrf_of(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


def sign_in(browser: httpx.Client, person: Person) -> httpx.Response:
    """Password (and the current TOTP code if 2FA is on); returns the last response."""
    token = csrf_of(browser.get("/login"))
    response = browser.post(
        "/login", data={"login": person.login, "password": person.password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    if response.headers["location"] == "/login/code":
        assert person.secret is not None
        token = csrf_of(browser.get("/login/code"))
        code = pyotp.TOTP(encode_secret(person.secret)).now()  # the server runs on real time
        response = browser.post("/login/code", data={"code": code, "csrf_token": token})
        assert response.status_code == 303, response.text
    return response


def post_until_killed(browser: httpx.Client, path: str, data: dict[str, str]) -> None:
    """POST the form; the server dies before it answers."""
    try:
        response = browser.post(path, data=data)
    except httpx.TransportError:
        return
    pytest.fail(f"the server answered {response.status_code} instead of dying: {response.text}")


def enroll_form(browser: httpx.Client, page_path: str) -> dict[str, str]:
    """Open the setup page, read the key as an authenticator app would, and fill the form."""
    page = browser.get(page_path)
    match = KEY_ON_PAGE.search(page.text)
    assert match, page.text
    code = pyotp.TOTP(match.group(1).replace(" ", "")).now()
    return {"code": code, "csrf_token": csrf_of(page)}


# --- what the database says afterwards -------------------------------------------------------


@dataclass
class TwoFactorState:
    confirmed: int
    secret_opens: bool
    code_digests: frozenset[bytes]
    reset_pending: bool
    session_methods: list[str]

    @property
    def on(self) -> bool:
        return self.confirmed > 0


def two_factor_state(runtime: Runtime, user_id: int) -> TwoFactorState:
    with runtime.db() as db:
        user = db.get(User, user_id)
        assert user is not None
        confirmed = list(
            db.scalars(
                select(Authenticator).where(
                    Authenticator.user_id == user_id, Authenticator.confirmed_at.is_not(None)
                )
            )
        )
        opens = all(len(open_secret(runtime, a, user_id)) >= 20 for a in confirmed)
        digests = frozenset(
            db.scalars(select(RecoveryCode.code_digest).where(RecoveryCode.user_id == user_id))
        )
        amrs = list(db.scalars(select(AuthSession.amr).where(AuthSession.user_id == user_id)))
        return TwoFactorState(
            confirmed=len(confirmed),
            secret_opens=opens,
            code_digests=digests,
            reset_pending=user.two_factor_reset_at is not None,
            session_methods=amrs,
        )


def assert_whole(state: TwoFactorState) -> None:
    """2FA on means one confirmed authenticator whose secret opens and a full set of codes;
    2FA off means no codes at all."""
    if state.on:
        assert state.confirmed == 1
        assert state.secret_opens
        assert len(state.code_digests) == CODES_PER_SET
    else:
        assert state.code_digests == frozenset()


def events(runtime: Runtime, user_id: int, event: AuditEventType) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.user_id == user_id, AuditEvent.event == event.value
                )
            )
            or 0
        )


def emails(runtime: Runtime, user_id: int, kind: str) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(
                select(func.count(OutgoingEmail.id)).where(
                    OutgoingEmail.user_id == user_id, OutgoingEmail.kind == kind
                )
            )
            or 0
        )


def unused_reenroll_links(runtime: Runtime, user_id: int) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(
                select(func.count(OneTimeToken.id)).where(
                    OneTimeToken.user_id == user_id,
                    OneTimeToken.purpose == REENROLL_PURPOSE,
                    OneTimeToken.used_at.is_(None),
                )
            )
            or 0
        )


# --- the operations --------------------------------------------------------------------------


def people(seeding: Runtime, points: list[str], *, with_totp: bool) -> dict[str, Person]:
    """One person per crash point, so one database serves every point of a test."""
    return {
        point: make_person(seeding, f"user{i}", with_totp=with_totp, email=f"user{i}@example.org")
        for i, point in enumerate(points)
    }


def test_confirming_enrollment_is_all_or_nothing(
    seeding: Runtime, settings: Settings, tmp_path: Path
) -> None:
    points = points_for(settings, ENROLL_POINTS)
    persons = people(seeding, points, with_totp=False)
    with crashing_servers(settings, points, tmp_path) as servers:
        for point, server in servers.items():
            with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
                sign_in(browser, persons[point])
                form = enroll_form(browser, "/account/security/setup")
                post_until_killed(browser, "/account/security/setup", form)
            server.assert_killed()

    for point, person in persons.items():
        state = two_factor_state(seeding, person.id)
        assert_whole(state)
        committed = point == "enroll.after_commit"
        assert state.on is committed, point
        enabled = events(seeding, person.id, AuditEventType.TWO_FACTOR_ENABLED)
        assert enabled == int(committed), point
        assert emails(seeding, person.id, "two_factor_enabled") == int(committed), point
        # The session that turned 2FA on counts it as its second factor, in the same commit.
        totp_sessions = [Method.TOTP.value in amr.split() for amr in state.session_methods]
        assert totp_sessions == [committed], point


def test_setting_up_again_after_a_reset_is_all_or_nothing(
    seeding: Runtime, settings: Settings, tmp_path: Path
) -> None:
    points = points_for(settings, REENROLL_POINTS)
    persons = people(seeding, points, with_totp=True)
    paths = {}
    for point, person in persons.items():
        with seeding.db() as db:
            user = db.get(User, person.id)
            assert user is not None
            link = member_actions.reset_two_factor(
                db,
                seeding,
                admin_scope.OPERATOR,
                user,
                reason="lost",
                client=None,
                send_email=False,
            )
        paths[point] = "/reenroll/" + link.rsplit("/reenroll/", 1)[1]
    with crashing_servers(settings, points, tmp_path) as servers:
        for point, server in servers.items():
            with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
                sign_in(browser, persons[point])
                form = enroll_form(browser, paths[point])
                post_until_killed(browser, paths[point], form)
            server.assert_killed()

    for point, person in persons.items():
        state = two_factor_state(seeding, person.id)
        assert_whole(state)
        committed = point == "enroll.after_commit"
        assert state.on is committed, point
        assert state.reset_pending is not committed, point
        assert unused_reenroll_links(seeding, person.id) == int(not committed), point
        enabled = events(seeding, person.id, AuditEventType.TWO_FACTOR_ENABLED)
        assert enabled == 1 + int(committed), point
        reenrolled = events(seeding, person.id, AuditEventType.TWO_FACTOR_REENROLLED)
        assert reenrolled == int(committed), point


def test_regenerating_recovery_codes_keeps_one_whole_set(
    seeding: Runtime, settings: Settings, tmp_path: Path
) -> None:
    points = points_for(settings, REGENERATE_POINTS)
    persons = people(seeding, points, with_totp=True)
    before = {p: two_factor_state(seeding, person.id).code_digests for p, person in persons.items()}
    with crashing_servers(settings, points, tmp_path) as servers:
        for point, server in servers.items():
            with httpx.Client(base_url=server.base_url, follow_redirects=False) as browser:
                sign_in(browser, persons[point])
                token = csrf_of(browser.get("/account/security/recovery-codes"))
                post_until_killed(
                    browser,
                    "/account/security/recovery-codes",
                    {"password": STRONG_PASSWORD, "csrf_token": token},
                )
            server.assert_killed()

    for point, person in persons.items():
        state = two_factor_state(seeding, person.id)
        assert_whole(state)
        assert state.on, point
        assert len(before[point]) == CODES_PER_SET
        committed = point == "regenerate.after_commit"
        if committed:
            assert state.code_digests.isdisjoint(before[point]), "not the new ten"
        else:
            assert state.code_digests == before[point], f"not the old ten at {point}"
        regenerated = events(seeding, person.id, AuditEventType.RECOVERY_CODES_REGENERATED)
        assert regenerated == int(committed), point
        assert emails(seeding, person.id, "recovery_codes_regenerated") == int(committed), point


def test_an_admin_reset_is_all_or_nothing(
    seeding: Runtime, settings: Settings, tmp_path: Path
) -> None:
    points = points_for(settings, RESET_POINTS)
    persons = people(seeding, points, with_totp=True)
    with seeding.db() as db:
        for person in persons.values():
            user = db.get(User, person.id)
            assert user is not None
            methods = [Method.PASSWORD, Method.TOTP]
            sessions.start_session(
                db, seeding, user, SessionState.AUTHENTICATED, methods, ClientInfo()
            )
        db.commit()
    before = {p: two_factor_state(seeding, person.id) for p, person in persons.items()}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The operator's command, one per point, all at once (start-up is most of the cost).
    runs = {
        point: launch(
            [
                "user",
                "reset-2fa",
                person.login,
                "--reason",
                "lost phone",
                "--yes",
                "--print-link",
                "--data-dir",
                str(settings.data_dir),
            ],
            env=crash_env(settings, point),
        )
        for point, person in persons.items()
    }
    for point, run in runs.items():
        output, _ = run.communicate(timeout=STARTUP_TIMEOUT)
        assert run.returncode == -signal.SIGKILL, f"{point}: {output}"
        assert "/reenroll/" not in output  # it died before printing the link

    for point, person in persons.items():
        state = two_factor_state(seeding, person.id)
        assert_whole(state)
        committed = point == "reset.after_commit"
        assert state.on is not committed, point
        assert state.reset_pending is committed, point
        reset = events(seeding, person.id, AuditEventType.TWO_FACTOR_RESET_BY_ADMIN)
        assert reset == int(committed), point
        assert unused_reenroll_links(seeding, person.id) == int(committed), point
        if committed:
            assert state.session_methods == [], "not signed out everywhere"
        else:
            assert state.code_digests == before[point].code_digests, point
            assert state.session_methods == before[point].session_methods, point
