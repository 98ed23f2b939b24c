"""Housekeeping: each kind of dead row is purged once it is due, and not a moment before;
live sessions, links, queued mail and the audit log are kept. The same purge runs from
`twofold purge` and, in the background, in every server process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from asgi_client import TestClient
from browser.server import server_env
from launcher import launch
from support import TEST_KEYS, Person, allow_sms, enroll_sms, make_person
from twofold.cli.main import app as cli_app
from twofold.core.audit_events import AuditEventType
from twofold.core.sessions import Method, SessionState
from twofold.crypto.passwords import PasswordHashingParams
from twofold.notify.mailer import Composed
from twofold.otp.clock import FixedClock
from twofold.services import audit, housekeeping, invitations, links, mail, organizations, sessions
from twofold.services.password_reset import PURPOSE as RESET_PURPOSE
from twofold.services.passwords import FAILURE_MEMORY, claim_password_attempt
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.services.setup import issue_setup_token
from twofold.settings import Settings
from twofold.store.models import (
    AuditEvent,
    AuthSession,
    OneTimeToken,
    OutgoingEmail,
    SmsChallenge,
    SmsRateWindow,
    Throttle,
    User,
)
from twofold.web.app import create_app

BROWSER = ClientInfo(ip="203.0.113.9", user_agent="pytest")


def start(runtime: Runtime, person: Person, state: SessionState) -> str:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        _session, token = sessions.start_session(
            db, runtime, user, state, [Method.PASSWORD], BROWSER
        )
        db.commit()
        return token


def count(runtime: Runtime, model: type[object]) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def live(runtime: Runtime, token: str) -> bool:
    with runtime.db() as db:
        return sessions.find_session(db, runtime, token) is not None


def queue(runtime: Runtime, recipient: str) -> int:
    with runtime.db() as db:
        row = mail.enqueue(
            db,
            runtime,
            kind="test",
            recipient=recipient,
            composed=Composed(subject="Hello", text="Hello", html="<p>Hello</p>"),
        )
        db.commit()
        return row.id


def email_ids(runtime: Runtime) -> set[int]:
    with runtime.db() as db:
        return set(db.scalars(select(OutgoingEmail.id)))


# --- what is due -----------------------------------------------------------------------------


def test_expired_sessions_are_purged_and_live_ones_kept(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    signing_in = start(runtime, alice, SessionState.PASSWORD_VERIFIED)  # 10 minutes
    signed_in = start(runtime, alice, SessionState.AUTHENTICATED)  # 12 hours

    assert housekeeping.purge(runtime).sessions == 0
    clock.advance(10 * 60 - 1)
    assert housekeeping.purge(runtime).sessions == 0
    assert live(runtime, signing_in)

    clock.advance(1)
    assert housekeeping.purge(runtime) == housekeeping.PurgeReport(sessions=1)
    assert count(runtime, AuthSession) == 1
    assert live(runtime, signed_in)


def test_links_are_purged_when_expired_or_a_day_after_use(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    with runtime.db() as db:
        default = organizations.get_organization(db, "default")
        used = links.issue_unbound(
            db,
            runtime,
            purpose="invitation",
            lifetime=timedelta(days=7),
            payload="a@example.org",
            organization_id=default.id,
            role="member",
        )
        waiting = links.issue_unbound(
            db,
            runtime,
            purpose="invitation",
            lifetime=timedelta(days=7),
            payload="b@example.org",
            organization_id=default.id,
            role="member",
        )
        links.issue(
            db, runtime, purpose=RESET_PURPOSE, user_id=alice.id, lifetime=timedelta(minutes=30)
        )
        db.commit()
        links.consume(db, runtime, purpose="invitation", token=used)
        db.commit()

    clock.advance(30 * 60 - 1)
    assert housekeeping.purge(runtime).links == 0  # used just now; reset link still live
    clock.advance(1)
    assert housekeeping.purge(runtime).links == 1  # the reset link expired
    with runtime.db() as db:
        issue_setup_token(db, runtime)  # for 24 hours from now
    clock.advance(USED_DAY - 30 * 60 - 1)
    assert housekeeping.purge(runtime).links == 0  # the used invitation is kept a day
    clock.advance(1)
    assert housekeeping.purge(runtime).links == 1
    clock.advance(24 * 3600)
    assert housekeeping.purge(runtime).links == 1  # the setup link expired

    with runtime.db() as db:
        assert invitations.open_invitation(db, runtime, waiting).address == "b@example.org"
        assert db.scalar(select(func.count()).select_from(OneTimeToken)) == 1


USED_DAY = int(housekeeping.USED_LINK_RETENTION.total_seconds())


def test_sent_and_given_up_mail_is_purged_and_queued_mail_kept(
    runtime: Runtime, clock: FixedClock
) -> None:
    sent = queue(runtime, "sent@example.org")
    mail.deliver_pending(runtime, runtime.mailer)
    given_up = queue(runtime, "gone@example.org")
    with runtime.db() as db:
        # As after the last retry: given up, kept for the operator to look into.
        db.execute(
            update(OutgoingEmail)
            .where(OutgoingEmail.id == given_up)
            .values(failed_at=runtime.now(), attempts=len(mail.RETRY_AFTER) + 1)
        )
        db.commit()
    waiting = queue(runtime, "later@example.org")  # still to be sent: never purged

    clock.advance(int(housekeeping.SENT_MAIL_RETENTION.total_seconds()) - 1)
    assert housekeeping.purge(runtime).emails == 0
    clock.advance(1)
    assert housekeeping.purge(runtime).emails == 1
    assert email_ids(runtime) == {given_up, waiting}
    clock.advance(
        int(
            (
                housekeeping.GIVEN_UP_MAIL_RETENTION - housekeeping.SENT_MAIL_RETENTION
            ).total_seconds()
        )
    )
    assert housekeeping.purge(runtime).emails == 1
    assert email_ids(runtime) == {waiting}
    assert sent not in email_ids(runtime)


def test_throttle_rows_are_purged_once_their_failures_no_longer_count(
    runtime: Runtime, clock: FixedClock
) -> None:
    with runtime.db() as db:
        claim_password_attempt(db, runtime, "alice", BROWSER)  # login:alice and ip: rows
    clock.advance(30 * 60)
    with runtime.db() as db:
        claim_password_attempt(db, runtime, "bob", BROWSER)  # login:bob, and the ip row again

    clock.advance(int(FAILURE_MEMORY.total_seconds()) - 30 * 60)
    assert housekeeping.purge(runtime).throttles == 0  # alice's failure still counts
    clock.advance(1)
    assert housekeeping.purge(runtime).throttles == 1
    with runtime.db() as db:
        keys = set(db.scalars(select(Throttle.key)))
    assert len(keys) == 2
    assert any(key.startswith("ip:") for key in keys)  # bob's failure refreshed it


def test_texted_codes_are_purged_a_day_after_they_expired_or_were_used(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    allow_sms(runtime)
    enroll_sms(runtime, alice)  # its code used now, expiring in 5 minutes
    clock.advance(3600)
    with runtime.db() as db:
        used = db.scalars(select(SmsChallenge)).one()
        # A later code nobody entered (as after "Send again" and giving up).
        db.add(
            SmsChallenge(
                user_id=alice.id,
                authenticator_id=used.authenticator_id,
                purpose="sign_in",
                code_kid=used.code_kid,
                code_digest=bytes(32),
                created_at=runtime.now(),
                expires_at=runtime.now() + timedelta(minutes=5),
                sent_at=runtime.now(),
            )
        )
        db.commit()
    day = int(housekeeping.SMS_CODE_RETENTION.total_seconds())

    clock.advance(day - 3600 - 1)
    assert housekeeping.purge(runtime).sms_codes == 0  # used a day ago less a second
    clock.advance(1)
    assert housekeeping.purge(runtime).sms_codes == 1
    clock.advance(3600 + 5 * 60 - 1)
    assert housekeeping.purge(runtime).sms_codes == 0  # expired a day ago less a second
    clock.advance(1)
    assert housekeeping.purge(runtime).sms_codes == 1
    assert count(runtime, SmsChallenge) == 0


def test_sms_rate_windows_are_purged_an_hour_after_they_ended(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    allow_sms(runtime)
    enroll_sms(runtime, alice)  # counted in the account's and the global window
    with runtime.db() as db:
        keys = set(db.scalars(select(SmsRateWindow.key)))
    assert keys == {f"account:{alice.id}", "global"}
    two_hours = int((housekeeping.SMS_WINDOW_RETENTION + timedelta(hours=1)).total_seconds())

    clock.advance(two_hours - 1)
    assert housekeeping.purge(runtime).sms_windows == 0  # ended less than an hour ago
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob, "+447400123457")  # a new global window starts now
    clock.advance(1)
    assert housekeeping.purge(runtime).sms_windows == 1  # alice's account window only
    with runtime.db() as db:
        assert set(db.scalars(select(SmsRateWindow.key))) == {f"account:{bob.id}", "global"}
    clock.advance(two_hours)
    assert housekeeping.purge(runtime).sms_windows == 2
    assert count(runtime, SmsRateWindow) == 0
    # The next text simply starts new windows.
    carol = make_person(runtime, "carol")
    enroll_sms(runtime, carol, "+447400123458")
    assert count(runtime, SmsRateWindow) == 2


def test_the_audit_log_is_never_purged(runtime: Runtime, clock: FixedClock, alice: Person) -> None:
    start(runtime, alice, SessionState.AUTHENTICATED)
    with runtime.db() as db:
        claim_password_attempt(db, runtime, "alice", BROWSER)  # a failed attempt, counted
        audit.record(db, runtime.now(), AuditEventType.SIGN_IN_PASSWORD_FAILED, client=BROWSER)
        db.commit()
    events = count(runtime, AuditEvent)
    assert events >= 1
    clock.advance(400 * 24 * 3600)
    report = housekeeping.purge(runtime)
    assert report.sessions == 1
    assert report.throttles == 2
    assert count(runtime, AuditEvent) == events


def test_purge_works_in_bounded_batches(runtime: Runtime, clock: FixedClock, alice: Person) -> None:
    for _ in range(5):
        start(runtime, alice, SessionState.PASSWORD_VERIFIED)
    clock.advance(3600)
    assert housekeeping.count_due(runtime) == housekeeping.PurgeReport(sessions=5)
    batches: list[tuple[str, int]] = []
    report = housekeeping.purge(runtime, batch_size=2, on_batch=lambda k, n: batches.append((k, n)))
    assert report.sessions == 5
    assert batches == [("sessions", 2), ("sessions", 2), ("sessions", 1)]
    assert count(runtime, AuthSession) == 0


def test_two_processes_purging_at_once_remove_each_row_once(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    for _ in range(40):
        start(runtime, alice, SessionState.PASSWORD_VERIFIED)
    clock.advance(3600)
    reports: list[housekeeping.PurgeReport] = []
    workers = [
        threading.Thread(target=lambda: reports.append(housekeeping.purge(runtime, batch_size=3)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(report.sessions for report in reports) == 40
    assert count(runtime, AuthSession) == 0


# --- who runs it ----------------------------------------------------------------------------


@pytest.fixture
def past(settings: Settings) -> Iterator[Runtime]:
    """Services two days behind the real clock: what they make has expired for a real server
    or command by now."""
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
    runtime = build_runtime(
        settings, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )
    yield runtime
    runtime.engine.dispose()


def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", TEST_KEYS.to_text())
    monkeypatch.setenv("TWOFOLD_DATA_DIR", str(settings.data_dir))


def test_the_purge_command_says_how_many_of_each_it_removed(
    past: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_person(past, "alice")
    for _ in range(3):
        start(past, alice, SessionState.AUTHENTICATED)
    with past.db() as db:
        claim_password_attempt(db, past, "alice", BROWSER)
        db.commit()
    cli_env(settings, monkeypatch)

    result = CliRunner().invoke(cli_app, ["purge"])
    assert result.exit_code == 0, result.output
    assert "Removed 3 expired sessions." in result.output
    assert "Removed 0 used or expired one-time links." in result.output
    assert "Removed 0 sent or given-up emails." in result.output
    assert "Removed 2 old password-throttle rows." in result.output

    result = CliRunner().invoke(cli_app, ["purge"])
    assert "Removed 0 expired sessions." in result.output


def test_the_purge_command_shows_progress_on_large_work(
    past: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_person(past, "alice")
    for _ in range(5):
        start(past, alice, SessionState.AUTHENTICATED)
    cli_env(settings, monkeypatch)
    result = CliRunner().invoke(cli_app, ["purge", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Purging" in result.output
    assert "Removed 5 expired sessions." in result.output

    result = CliRunner().invoke(cli_app, ["purge", "--batch-size", "0"])
    assert result.exit_code != 0
    assert "--batch-size" in result.output


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Polls a background worker's effect (not a TOTP step)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.05)


def test_the_server_purges_in_the_background(past: Runtime, settings: Settings) -> None:
    alice = make_person(past, "alice")
    start(past, alice, SessionState.AUTHENTICATED)
    settings = settings.model_copy(update={"purge_interval_seconds": 0.1})
    runtime = build_runtime(
        settings, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )
    try:
        with TestClient(create_app(runtime=runtime, mail_worker=False)):
            wait_until(lambda: count(past, AuthSession) == 0, "the purge")
    finally:
        runtime.engine.dispose()


def test_twofold_serve_purges_in_the_background(
    past: Runtime, settings: Settings, tmp_path: Path
) -> None:
    alice = make_person(past, "alice")
    start(past, alice, SessionState.AUTHENTICATED)
    with past.db() as db:
        claim_password_attempt(db, past, "alice", BROWSER)
        db.commit()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **server_env(settings.data_dir),
        "TWOFOLD_DATABASE_URL": settings.resolved_database_url,
        "TWOFOLD_SECRET_KEYS": TEST_KEYS.to_text(),
        "TWOFOLD_PURGE_INTERVAL_SECONDS": "0.2",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = launch(
            ["serve", "--port", str(port), "--data-dir", str(settings.data_dir)],
            env=env,
            stdout=out,
        )
    try:
        wait_until(lambda: healthy(port) or server.poll() is not None, "start-up", 90)
        assert server.poll() is None, log.read_text()
        wait_until(
            lambda: count(past, AuthSession) == 0 and count(past, Throttle) == 0, "the purge"
        )
    finally:
        server.terminate()
        server.wait(timeout=15)


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_purge_command_explains_itself() -> None:
    result = CliRunner().invoke(cli_app, ["purge", "--help"])
    assert result.exit_code == 0
    assert "expired sessions" in result.output
    assert "--batch-size" in result.output
