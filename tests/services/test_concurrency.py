"""Single use under concurrency: two requests with the same code at the same moment, each in
its own database session, and exactly one of them gets in (on PostgreSQL and a SQLite file)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from support import Person, add_authenticator, code_of
from twofold.core.errors import CodeReused, InvalidCode, InvalidRecoveryCode
from twofold.otp.clock import FixedClock
from twofold.services import second_factor, sessions
from twofold.services.runtime import Runtime
from twofold.services.users import recovery_codes_left
from twofold.store.models import AuthSession

ROUNDS = 10
Submit = Callable[[Session, AuthSession], str]


def race(runtime: Runtime, tokens: list[str], submit: Submit) -> list[object]:
    """Each thread loads its own session, then all submit at once; returns what each got."""
    barrier = threading.Barrier(len(tokens), timeout=10)
    outcomes: list[object] = [None] * len(tokens)

    def request(index: int) -> None:
        try:
            with runtime.db() as db:
                session = sessions.find_session(db, runtime, tokens[index])
                assert session is not None
                db.commit()  # end the read: on SQLite an open transaction holds the write lock
                barrier.wait()
                outcomes[index] = submit(db, session)
        except BaseException as error:  # reported in the main thread
            outcomes[index] = error

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request hung"
    return outcomes


def winners_and_losers(outcomes: list[object]) -> tuple[list[str], list[BaseException]]:
    winners = [o for o in outcomes if isinstance(o, str)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) + len(losers) == len(outcomes)
    return winners, losers


def accepted_once(steps, runtime: Runtime, person: Person, code: str) -> None:
    """The same app code from two sign-ins at once: one signs in, the other is a replay."""
    tokens = [steps.password_step(person) for _ in range(2)]
    outcomes = race(
        runtime,
        tokens,
        lambda db, session: second_factor.verify_totp(db, runtime, session, code, steps.client),
    )
    winners, losers = winners_and_losers(outcomes)
    assert len(winners) == 1, outcomes
    assert [type(loser) for loser in losers] == [CodeReused], outcomes


def test_the_same_totp_code_submitted_twice_at_once_is_accepted_once(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    for _ in range(ROUNDS):
        clock.advance(30)
        code = alice_with_totp.totp(clock)
        accepted_once(steps, runtime, alice_with_totp, code)


def test_the_same_recovery_code_submitted_twice_at_once_is_accepted_once(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes is not None
    for code in alice_with_totp.recovery_codes[:ROUNDS]:
        tokens = [steps.password_step(alice_with_totp) for _ in range(2)]
        outcomes = race(
            runtime,
            tokens,
            lambda db, session, code=code: second_factor.verify_recovery_code(
                db, runtime, session, code, steps.client
            ),
        )
        winners, losers = winners_and_losers(outcomes)
        assert len(winners) == 1, outcomes
        assert [type(loser) for loser in losers] == [InvalidRecoveryCode], outcomes
    with runtime.db() as db:
        assert recovery_codes_left(db, alice_with_totp.id) == 10 - ROUNDS


def test_wrong_codes_submitted_at_once_are_all_counted(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    requests = 5
    wrong = steps.wrong_code(alice_with_totp)
    tokens = [steps.password_step(alice_with_totp) for _ in range(requests)]
    outcomes = race(
        runtime,
        tokens,
        lambda db, session: second_factor.verify_totp(db, runtime, session, wrong, steps.client),
    )
    assert all(isinstance(outcome, InvalidCode) for outcome in outcomes), outcomes
    assert steps.user(alice_with_totp).failed_code_count == requests


def test_a_second_authenticators_code_submitted_twice_at_once_is_accepted_once(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    """Each authenticator's replay state holds under concurrency like the first one's."""
    second = add_authenticator(runtime, alice_with_totp, clock, name="Work phone")
    for _ in range(ROUNDS // 2):
        clock.advance(30)
        code = code_of(second, clock)
        accepted_once(steps, runtime, alice_with_totp, code)
