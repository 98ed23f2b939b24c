"""The SMS limits under parallel requests, each in its own database session and thread: the
windows (per account, per address, global), the resend wait and single use hold exactly, on
PostgreSQL (READ COMMITTED, row locks) and on a SQLite file."""

from __future__ import annotations

import threading
from collections.abc import Callable

from services.test_concurrency import race
from support import CapturingSms, Person, allow_sms, enroll_sms, make_person
from twofold.core.errors import SmsCodeExpired, SmsLimitReached, SmsResendTooSoon
from twofold.otp.clock import FixedClock
from twofold.services import second_factor, sessions, sms_codes
from twofold.services.runtime import ClientInfo, Runtime

THREADS = 12


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run work(i) in `count` threads released together; what each returned or raised."""
    barrier = threading.Barrier(count, timeout=10)
    outcomes: list[object] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = work(index)
        except BaseException as error:  # reported in the main thread
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request hung"
    return outcomes


def test_a_window_counts_exactly_its_limit_under_parallel_takers(
    runtime: Runtime, clock: FixedClock
) -> None:
    def take(_index: int) -> object:
        with runtime.db() as db:
            started = sms_codes.take_slot(db, "account:42", 5, clock.now())
            db.commit()
            return started

    outcomes = at_once(THREADS, take)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sum(1 for o in outcomes if o is not None) == 5


def _password_steps(steps, people: list[Person]) -> list[str]:
    return [steps.password_step(person) for person in people]


def _send(runtime: Runtime, token: str, ip: str) -> object:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        db.commit()
        return second_factor.send_sign_in_code(db, runtime, session, ClientInfo(ip=ip))


def test_the_per_address_and_global_limits_hold_under_parallel_sends(
    steps, runtime: Runtime, clock: FixedClock
) -> None:
    texts: CapturingSms = allow_sms(runtime)
    people = [make_person(runtime, f"p{i}") for i in range(THREADS)]
    for person in people:
        enroll_sms(runtime, person)
    runtime.settings = runtime.settings.model_copy(
        update={"sms_per_ip_per_hour": 4, "sms_global_per_hour": 7}
    )
    clock.advance(3600)
    before = len(texts.messages)
    tokens = _password_steps(steps, people[:8])
    outcomes = at_once(8, lambda i: _send(runtime, tokens[i], "198.51.100.9"))
    sent = [o for o in outcomes if isinstance(o, sms_codes.SentCode)]
    refused = [o for o in outcomes if isinstance(o, SmsLimitReached)]
    assert (len(sent), len(refused)) == (4, 4), outcomes
    assert {r.scope for r in refused} == {"ip"}
    tokens = _password_steps(steps, people[8:])
    outcomes = at_once(4, lambda i: _send(runtime, tokens[i], f"198.51.100.{20 + i}"))
    sent = [o for o in outcomes if isinstance(o, sms_codes.SentCode)]
    refused = [o for o in outcomes if isinstance(o, SmsLimitReached)]
    assert (len(sent), len(refused)) == (3, 1), outcomes
    assert len(texts.messages) - before == 7


def test_parallel_sends_for_one_person_send_one_text(
    steps, runtime: Runtime, clock: FixedClock
) -> None:
    texts = allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob)
    clock.advance(3600)
    tokens = [steps.password_step(bob) for _ in range(6)]
    before = len(texts.messages)
    outcomes = at_once(6, lambda i: _send(runtime, tokens[i], f"198.51.100.{i}"))
    assert sum(isinstance(o, sms_codes.SentCode) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, sms_codes.SentCode | SmsResendTooSoon) for o in outcomes), outcomes
    assert len(texts.messages) - before == 1


def test_the_same_texted_code_submitted_at_once_signs_in_once(
    steps, runtime: Runtime, clock: FixedClock
) -> None:
    texts = allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob)
    clock.advance(60)
    token = steps.password_step(bob)
    _send(runtime, token, "198.51.100.1")
    code = texts.last_code()

    outcomes = race(
        runtime,
        [token] * 4,
        lambda db, session: second_factor.verify_sms_code(db, runtime, session, code, ClientInfo()),
    )
    winners = [o for o in outcomes if isinstance(o, str)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, str | SmsCodeExpired) for o in outcomes), outcomes
