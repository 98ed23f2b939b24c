"""The lease: of several server processes on one database, exactly one holds it at a time
and does the background work (mail, housekeeping); it takes over from a holder that died
once the lease expires, and at once from one that stopped. Two runtimes on the same
database compete here as two processes would; time is the FixedClock."""

from __future__ import annotations

import threading
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from support import make_person
from twofold.core.sessions import Method, SessionState
from twofold.crypto.passwords import PasswordHashingParams
from twofold.notify.mailer import Composed
from twofold.otp.clock import FixedClock
from twofold.services import leases, mail, sessions
from twofold.services.housekeeping import PurgeWorker
from twofold.services.leases import DURATION, RENEW_EVERY, Lease, LeaseKeeper
from twofold.services.mail import MailWorker
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.store.models import AuthSession, OutgoingEmail, User


class Sent:
    """A mailer that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def describe(self) -> str:
        return "kept in memory"


@pytest.fixture
def other(runtime: Runtime, clock: FixedClock) -> Runtime:
    """A second server process's runtime on the same database and clock."""
    return build_runtime(
        runtime.settings,
        clock=clock,
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
        engine=runtime.engine,
    )


def queue_mail(runtime: Runtime) -> None:
    with runtime.db() as db:
        mail.enqueue(
            db,
            runtime,
            kind="notice",
            recipient="alice@example.org",
            composed=Composed(subject="Hello", text="Hello", html="<p>Hello</p>"),
        )
        db.commit()


def unsent(runtime: Runtime) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(select(func.count(OutgoingEmail.id)).where(OutgoingEmail.sent_at.is_(None)))
            or 0
        )


def test_only_one_of_two_processes_holds_the_lease(runtime: Runtime, other: Runtime) -> None:
    first, second = Lease(runtime), Lease(other)
    assert first.renew()
    assert not second.renew()
    assert first.held()
    assert not second.held()
    state = leases.current(runtime, leases.BACKGROUND)
    assert state is not None
    assert state.holder == first.holder


def take_at_once(runtime: Runtime, contenders: int) -> list[object]:
    """`contenders` processes try to take the lease at the same moment; what each got."""
    barrier = threading.Barrier(contenders, timeout=10)
    outcomes: list[object] = [None] * contenders

    def contend(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = leases.take(runtime, leases.BACKGROUND, f"process-{index}")
        except BaseException as error:  # reported in the main thread
            outcomes[index] = error

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_of_processes_taking_a_free_lease_at_once_exactly_one_gets_it(
    runtime: Runtime, clock: FixedClock
) -> None:
    for _round in range(5):
        outcomes = take_at_once(runtime, 6)
        assert outcomes.count(True) == 1, outcomes
        assert outcomes.count(False) == 5, outcomes
        clock.advance(DURATION.total_seconds())  # the winner dies; its lease expires


def test_the_holder_keeps_the_lease_by_renewing_it(
    runtime: Runtime, other: Runtime, clock: FixedClock
) -> None:
    first, second = Lease(runtime), Lease(other)
    assert first.renew()
    for _ in range(10):  # far past one duration, renewed every RENEW_EVERY
        clock.advance(RENEW_EVERY.total_seconds())
        assert first.renew()
        assert not second.renew()
    assert first.held()


def test_a_dead_holders_lease_is_taken_over_once_it_expires(
    runtime: Runtime, other: Runtime, clock: FixedClock
) -> None:
    dead, survivor = Lease(runtime), Lease(other)
    assert dead.renew()  # ... and then the process is killed: it never renews again
    clock.advance(DURATION.total_seconds() - 1)
    assert not survivor.renew()
    clock.advance(1)
    assert not dead.held()
    assert survivor.renew()
    assert survivor.held()
    # Had the first process only been paused, it learns that it lost the lease.
    assert not dead.renew()
    assert not dead.held()


def test_a_released_lease_is_taken_at_once(runtime: Runtime, other: Runtime) -> None:
    first, second = Lease(runtime), Lease(other)
    assert first.renew()
    first.release()
    assert not first.held()
    assert leases.current(runtime, leases.BACKGROUND) is None
    assert second.renew()


def test_releasing_a_lease_taken_over_leaves_the_new_holder_alone(
    runtime: Runtime, other: Runtime, clock: FixedClock
) -> None:
    first, second = Lease(runtime), Lease(other)
    assert first.renew()
    clock.advance(DURATION.total_seconds())
    assert second.renew()
    first.release()  # it still believed it held the lease
    state = leases.current(runtime, leases.BACKGROUND)
    assert state is not None
    assert state.holder == second.holder


def test_the_keeper_takes_the_lease_at_start_and_releases_it_on_stop(
    runtime: Runtime, other: Runtime
) -> None:
    keeper = LeaseKeeper(Lease(runtime), renew_every=timedelta(hours=1))
    keeper.start()
    try:
        assert keeper.lease.held()
        assert not Lease(other).renew()
    finally:
        keeper.stop()
    assert Lease(other).renew()


def test_only_the_lease_holder_sends_the_mail(
    runtime: Runtime, other: Runtime, clock: FixedClock
) -> None:
    first_mailer, second_mailer = Sent(), Sent()
    first_lease, second_lease = Lease(runtime), Lease(other)
    first = MailWorker(runtime, first_mailer, 60, first_lease)
    second = MailWorker(other, second_mailer, 60, second_lease)
    queue_mail(runtime)
    assert first_lease.renew()
    assert not second_lease.renew()

    assert not second.run_pass()
    assert unsent(runtime) == 1
    assert first.run_pass()
    assert unsent(runtime) == 0
    assert len(first_mailer.messages) == 1

    # The first process dies; once its lease has expired the second one sends.
    queue_mail(runtime)
    clock.advance(DURATION.total_seconds())
    assert not second.run_pass()  # it has not taken the lease yet
    assert second_lease.renew()
    assert second.run_pass()
    assert unsent(runtime) == 0
    assert len(second_mailer.messages) == 1
    assert not first.run_pass()
    assert len(first_mailer.messages) == 1


def test_only_the_lease_holder_purges(runtime: Runtime, other: Runtime, clock: FixedClock) -> None:
    alice = make_person(runtime, "alice")
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        sessions.start_session(
            db, runtime, user, SessionState.AUTHENTICATED, [Method.PASSWORD], ClientInfo()
        )
        db.commit()
    holder, waiting = Lease(runtime), Lease(other)
    assert holder.renew()
    assert not waiting.renew()
    clock.advance(timedelta(days=40).total_seconds())  # the session has long expired
    assert holder.renew()  # renewed all along
    assert not waiting.renew()

    assert not PurgeWorker(other, 60, waiting).run_pass()
    assert count_sessions(runtime) == 1
    assert PurgeWorker(runtime, 60, holder).run_pass()
    assert count_sessions(runtime) == 0


def count_sessions(runtime: Runtime) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count(AuthSession.id))) or 0)
