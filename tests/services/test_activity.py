"""The person's own activity: recent security events and live sessions, with sign-out for
one of their sessions or for all the others — never someone else's."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from support import Person, make_person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidCredentials, NotFound
from twofold.otp.clock import FixedClock
from twofold.services import activity
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuthSession, User

OTHER_BROWSER = ClientInfo(
    ip="198.51.100.4", user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox/124.0"
)


@pytest.fixture
def bob(runtime: Runtime) -> Person:
    return make_person(runtime, "bob")


def user_of(runtime: Runtime, person: Person) -> User:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return user


def session_ids(runtime: Runtime, person: Person) -> list[int]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuthSession.id)
                .where(AuthSession.user_id == person.id)
                .order_by(AuthSession.id)
            )
        )


def session_id_of(steps, token: str) -> int:
    session = steps.find(token)
    assert session is not None
    return int(session.id)


def test_recent_events_are_the_persons_own_newest_first(
    runtime: Runtime, steps, alice: Person, bob: Person, clock: FixedClock
) -> None:
    clock.advance(60)
    steps.sign_in(alice)
    clock.advance(60)
    with pytest.raises(InvalidCredentials):
        steps.sign_in(alice, "not the right password")
    steps.sign_in(bob)
    with runtime.db() as db:
        events = activity.recent_events(db, alice.id)
    assert [e.event for e in events] == [
        AuditEventType.SIGN_IN_PASSWORD_FAILED,
        AuditEventType.SIGN_IN_SUCCEEDED,
        AuditEventType.USER_CREATED,
    ]
    assert {e.user_id for e in events} == {alice.id}
    assert events[0].ip == steps.client.ip
    assert events[0].user_agent == steps.client.user_agent


def test_recent_events_are_limited(runtime: Runtime, steps, alice: Person) -> None:
    for _ in range(activity.RECENT_EVENTS + 5):
        steps.sign_in(alice)
    with runtime.db() as db:
        assert len(activity.recent_events(db, alice.id)) == activity.RECENT_EVENTS


def test_active_sessions_are_the_persons_live_ones(
    runtime: Runtime, steps, alice: Person, bob: Person, clock: FixedClock
) -> None:
    first = session_id_of(steps, steps.sign_in(alice).token)
    clock.advance(120)
    second = session_id_of(steps, steps.sign_in(alice).token)
    steps.sign_in(bob)
    with runtime.db() as db:
        live = activity.active_sessions(db, runtime, alice.id)
    assert [s.id for s in live] == [second, first]  # most recently seen first
    clock.advance(runtime.settings.session_hours * 3600 - 60)
    with runtime.db() as db:
        assert [s.id for s in activity.active_sessions(db, runtime, alice.id)] == [second]


def test_ending_one_of_ones_own_sessions_signs_that_browser_out(
    runtime: Runtime, steps, alice: Person
) -> None:
    mine = steps.sign_in(alice).token
    other = steps.sign_in(alice).token
    with runtime.db() as db:
        activity.end_own_session(
            db, runtime, user_of(runtime, alice), session_id_of(steps, other), OTHER_BROWSER
        )
    assert steps.find(other) is None
    assert steps.find(mine) is not None
    [event] = steps.events(AuditEventType.SESSION_ENDED)
    assert event.user_id == alice.id
    assert steps.detail(event) == {"count": 1}


def test_ending_someone_elses_session_is_not_found_and_changes_nothing(
    runtime: Runtime, steps, alice: Person, bob: Person
) -> None:
    steps.sign_in(alice)
    bobs = steps.sign_in(bob).token
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(NotFound):
        activity.end_own_session(
            db, runtime, user_of(runtime, alice), session_id_of(steps, bobs), OTHER_BROWSER
        )
    assert snapshot(runtime) == before
    assert steps.find(bobs) is not None


def test_ending_a_session_that_does_not_exist_is_not_found(runtime: Runtime, alice: Person) -> None:
    with runtime.db() as db, pytest.raises(NotFound):
        activity.end_own_session(db, runtime, user_of(runtime, alice), 987654, OTHER_BROWSER)


def test_ending_all_other_sessions_keeps_only_the_current_one(
    runtime: Runtime, steps, alice: Person, bob: Person
) -> None:
    current = steps.sign_in(alice).token
    others = [steps.sign_in(alice).token for _ in range(3)]
    bobs = steps.sign_in(bob).token
    with runtime.db() as db:
        ended = activity.end_other_sessions(
            db, runtime, user_of(runtime, alice), session_id_of(steps, current), OTHER_BROWSER
        )
    assert ended == 3
    assert session_ids(runtime, alice) == [session_id_of(steps, current)]
    assert all(steps.find(token) is None for token in others)
    assert steps.find(bobs) is not None
    [event] = steps.events(AuditEventType.SESSION_ENDED)
    assert steps.detail(event) == {"count": 3}
