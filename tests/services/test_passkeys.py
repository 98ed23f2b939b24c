"""Security keys and passkeys (issue #14, decision 0027), with real WebAuthn answers from a
software authenticator: adding one, using it as the second factor, passwordless sign-in by
organization policy, and every refusal (cloned key, wrong origin or RP id, used, expired or
foreign challenge) audited and changing nothing else."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select

from passkey_steps import (
    add_passkey,
    begin_adding,
    finish_adding,
    passwordless,
    passwordless_options,
    second_factor,
    second_factor_options,
    set_passkeys,
    signed_in,
)
from services.conftest import Steps
from soft_webauthn import SoftAuthenticator, b64url, unb64url
from support import Person, make_member, make_org, make_person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    InvalidInput,
    PasskeyChallengeExpired,
    PasskeyRefused,
    PasskeysNotAllowed,
    PasswordlessNotAllowed,
    SignCountRegressed,
    TooManyAuthenticators,
    TwoFactorNotEnabled,
    UnknownPasskey,
    WrongPassword,
)
from twofold.core.sessions import Method, SessionState, amr_methods
from twofold.otp.clock import FixedClock
from twofold.services import account, sessions, users, webauthn
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import OutgoingEmail, User, WebAuthnChallenge, WebAuthnCredential

BINDING = "browser-cookie-value"


def credential_rows(runtime: Runtime, person: Person) -> list[WebAuthnCredential]:
    with runtime.db() as db:
        return list(
            db.scalars(select(WebAuthnCredential).where(WebAuthnCredential.user_id == person.id))
        )


def amr_of(runtime: Runtime, token: str) -> list[Method]:
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        assert session.state == SessionState.AUTHENTICATED
        return amr_methods(session.amr)


def test_a_security_key_is_added_and_then_signs_in_as_the_second_factor(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True, email="alice@example.com")
    clock.advance(30)
    key = SoftAuthenticator()
    added = add_passkey(runtime, clock, alice, key)
    assert (added.kind, added.name, added.synced) == ("passkey", "YubiKey", False)
    [row] = credential_rows(runtime, alice)
    assert row.rp_id == "localhost"
    assert row.transports == "usb,internal"
    assert row.aaguid == "01234567-89ab-cdef-0123-456789abcdef"
    assert row.discoverable
    assert not row.backup_eligible
    assert steps.events(AuditEventType.PASSKEY_ADDED)

    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    assert json.loads(options)["allowCredentials"][0]["id"] == b64url(row.credential_id)
    signed = second_factor(runtime, token, key.assertion(options))
    assert amr_of(runtime, signed) == [Method.PASSWORD, Method.HARDWARE_KEY]
    [row] = credential_rows(runtime, alice)
    assert row.sign_count == 1
    assert row.last_used_at is not None
    with runtime.db() as db:
        kinds = list(db.scalars(select(OutgoingEmail.kind).order_by(OutgoingEmail.id)))
    assert "passkey_added" in kinds


def test_a_synced_passkey_is_swk(runtime: Runtime, clock: FixedClock, steps: Steps) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator(backup_eligible=True, counts=False)
    assert add_passkey(runtime, clock, alice, key).synced
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    signed = second_factor(runtime, token, key.assertion(options))
    # A synced passkey reports counter 0 every time: not a regression.
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    signed = second_factor(runtime, token, key.assertion(options))
    assert Method.SOFTWARE_KEY in amr_of(runtime, signed)


def test_a_cloned_key_with_a_lower_counter_is_refused_and_audited(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    clone = key.clone()
    for _ in range(3):
        token = steps.password_step(alice)
        second_factor(runtime, token, key.assertion(second_factor_options(runtime, token)))
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    with pytest.raises(SignCountRegressed):
        second_factor(runtime, token, clone.assertion(options))
    [row] = credential_rows(runtime, alice)
    assert row.sign_count == 3
    [event] = steps.events(AuditEventType.SIGN_COUNT_REGRESSED)
    detail = steps.detail(event)
    assert detail["stored_sign_count"] == 3
    assert detail["reported_sign_count"] == 1
    # The session is still at the prompt; the same answer again is a used challenge.
    with pytest.raises(PasskeyChallengeExpired):
        second_factor(runtime, token, clone.assertion(options))


@pytest.mark.parametrize(
    ("bend", "refusal"),
    [
        ({"origin": "https://evil.example"}, PasskeyRefused),
        ({"rp_id": "evil.example"}, PasskeyRefused),
        ({"up": False}, PasskeyRefused),
    ],
)
def test_an_answer_for_another_site_or_without_presence_is_refused(
    runtime: Runtime, clock: FixedClock, steps: Steps, bend: dict[str, object], refusal: type
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    before = credential_rows(runtime, alice)[0].sign_count
    with pytest.raises(refusal):
        second_factor(runtime, token, key.assertion(options, **bend))  # type: ignore[arg-type]
    assert credential_rows(runtime, alice)[0].sign_count == before
    assert steps.events(AuditEventType.PASSKEY_REFUSED)
    assert steps.find(token).state == SessionState.PASSWORD_VERIFIED  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bend", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"up": False}]
)
def test_a_registration_for_another_site_stores_nothing(
    runtime: Runtime, clock: FixedClock, bend: dict[str, object]
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    token = signed_in(runtime, clock, alice)
    options = begin_adding(runtime, clock, alice, token)
    with pytest.raises(PasskeyRefused):
        finish_adding(
            runtime,
            alice,
            token,
            SoftAuthenticator().register(options, **bend),  # type: ignore[arg-type]
        )
    assert credential_rows(runtime, alice) == []


def test_a_challenge_is_single_use_expires_and_belongs_to_its_session(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    # Another session's challenge.
    first, second = steps.password_step(alice), steps.password_step(alice)
    with pytest.raises(PasskeyChallengeExpired):
        second_factor(runtime, second, key.assertion(second_factor_options(runtime, first)))
    # Expired after 5 minutes.
    options = second_factor_options(runtime, first)
    clock.advance(301)
    with pytest.raises(PasskeyChallengeExpired):
        second_factor(runtime, first, key.assertion(options))
    # Used: the same answer twice.
    token = steps.password_step(alice)
    answer = key.assertion(second_factor_options(runtime, token))
    second_factor(runtime, token, answer)
    with pytest.raises(PasskeyChallengeExpired):
        second_factor(runtime, steps.password_step(alice), answer)
    # An answer whose challenge was never given.
    token = steps.password_step(alice)
    made_up = key.assertion(
        json.dumps({"challenge": b64url(b"x" * 32), "allowCredentials": [], "rpId": "localhost"})
    )
    with pytest.raises(PasskeyChallengeExpired):
        second_factor(runtime, token, made_up)


@pytest.mark.parametrize("garbage", ["", "{", "[]", '{"response": 1}', "x" * 70_000])
def test_garbage_is_refused_plainly(
    runtime: Runtime, clock: FixedClock, steps: Steps, garbage: str
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    add_passkey(runtime, clock, alice, SoftAuthenticator())
    token = steps.password_step(alice)
    second_factor_options(runtime, token)
    before = snapshot(runtime, skip=("webauthn_challenges", "audit_events"))
    with pytest.raises(PasskeyRefused):
        second_factor(runtime, token, garbage)
    assert snapshot(runtime, skip=("webauthn_challenges", "audit_events")) == before


def test_an_unknown_credential_is_refused(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    add_passkey(runtime, clock, alice, SoftAuthenticator())
    stranger = SoftAuthenticator()
    stranger.register(
        json.dumps(
            {"rp": {"id": "localhost"}, "user": {"id": "eA"}, "challenge": b64url(b"c" * 32)}
        )
    )
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    only = next(iter(stranger.credentials))
    with pytest.raises(UnknownPasskey):
        second_factor(runtime, token, stranger.assertion(options, credential_id=only))


def test_adding_asks_the_password_and_a_current_second_factor(
    runtime: Runtime, clock: FixedClock
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    token = signed_in(runtime, clock, alice)
    wrong = Person(alice.id, alice.login, "not the password", alice.secret)
    with pytest.raises(WrongPassword):
        begin_adding(runtime, clock, wrong, token)
    with pytest.raises(InvalidInput):
        begin_adding(runtime, clock, alice, token, name="x" * 65)
    bob = make_person(runtime, "bob")
    with runtime.db() as db:
        bob_token = Steps(runtime, clock).sign_in(bob).token
        session = sessions.find_session(db, runtime, bob_token)
        user = db.get(User, bob.id)
        assert session is not None
        assert user is not None
        with pytest.raises(TwoFactorNotEnabled):
            webauthn.begin_adding(
                db,
                runtime,
                user,
                session,
                name="Key",
                password=bob.password,
                code="123456",
                client=ClientInfo(),
            )


def test_ten_second_factors_in_all(runtime: Runtime, clock: FixedClock) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    for number in range(9):
        add_passkey(runtime, clock, alice, key, name=f"Key {number}")
    token = signed_in(runtime, clock, alice)
    with pytest.raises(TooManyAuthenticators):
        begin_adding(runtime, clock, alice, token)


def test_an_organization_with_passkeys_off_neither_offers_nor_accepts_them(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    set_passkeys(runtime, "default", "off")
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, token)
        assert session is not None
        assert not webauthn.offered_at_prompt(db, session)
    with pytest.raises(PasskeysNotAllowed):
        second_factor_options(runtime, token)
    with pytest.raises(PasskeysNotAllowed):
        second_factor(runtime, token, key.assertion(options))


def test_passwordless_sign_in_is_two_factors_where_every_organization_allows_it(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    # Default policy (second-factor): the password is asked as well.
    with pytest.raises(PasswordlessNotAllowed):
        passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))
    set_passkeys(runtime, "default", "passwordless")
    token = passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))
    assert amr_of(runtime, token) == [Method.USER_VERIFICATION, Method.HARDWARE_KEY]
    # A second organization that does not allow it: the password again.
    make_org(runtime, "acme")
    from support import join

    join(runtime, alice, "acme")
    with pytest.raises(PasswordlessNotAllowed):
        passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))
    set_passkeys(runtime, "acme", "passwordless")
    passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))


def test_passwordless_needs_user_verification_its_cookie_and_an_active_account(
    runtime: Runtime, clock: FixedClock
) -> None:
    set_passkeys(runtime, "default", "passwordless")
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    with pytest.raises(PasskeyRefused):
        passwordless(
            runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING), uv=False)
        )
    with pytest.raises(PasskeyChallengeExpired):
        passwordless(
            runtime, "another browser", key.assertion(passwordless_options(runtime, BINDING))
        )
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        user.is_active = False
        db.commit()
    with pytest.raises(UnknownPasskey):
        passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))


def test_a_person_in_no_organization_types_the_password(
    runtime: Runtime, clock: FixedClock
) -> None:
    lone = make_member(runtime, "lone", "default", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, lone, key)
    with runtime.db() as db:
        from twofold.store.models import Membership

        db.query(Membership).filter(Membership.user_id == lone.id).delete()
        db.commit()
    set_passkeys(runtime, "default", "passwordless")
    with pytest.raises(PasswordlessNotAllowed):
        passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))


def test_removing_a_key_ends_the_grants_and_turning_2fa_off_removes_every_key(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    first = add_passkey(runtime, clock, alice, SoftAuthenticator(), name="One")
    add_passkey(runtime, clock, alice, SoftAuthenticator(), name="Two")
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        webauthn.remove(db, runtime, user, first.id, alice.password, ClientInfo())
    assert [r.name for r in credential_rows(runtime, alice)] == ["Two"]
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        assert user.credentials_changed_at is not None
        assert [m.name for m in users.passkeys_of(db, alice.id)] == ["Two"]
        account.disable_two_factor(db, runtime, user, alice.password, ClientInfo())
    assert credential_rows(runtime, alice) == []
    assert steps.events(AuditEventType.PASSKEY_REMOVED)


def test_expired_challenges_are_cleared_as_new_ones_are_made(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    add_passkey(runtime, clock, alice, SoftAuthenticator())
    for _ in range(3):
        passwordless_options(runtime, BINDING)
    clock.advance(301)
    passwordless_options(runtime, BINDING)
    with runtime.db() as db:
        assert len(list(db.scalars(select(WebAuthnChallenge.id)))) == 1


def test_the_same_passwordless_answer_twice_at_once_signs_in_once(
    runtime: Runtime, clock: FixedClock
) -> None:
    set_passkeys(runtime, "default", "passwordless")
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    for _ in range(5):
        outcomes = both_at_once(runtime, key.assertion(passwordless_options(runtime, BINDING)))
        winners = [o for o in outcomes if isinstance(o, str)]
        losers = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        assert [type(loser) for loser in losers] == [PasskeyChallengeExpired], outcomes


def both_at_once(runtime: Runtime, answer: str) -> list[object]:
    """The same passwordless answer from two requests at the same moment."""
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[object] = [None, None]

    def request(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = passwordless(runtime, BINDING, answer)
        except BaseException as error:  # reported by the caller
            outcomes[index] = error

    threads = [threading.Thread(target=request, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a request hung"
    return outcomes


def test_the_user_handle_is_the_random_subject_not_the_login(
    runtime: Runtime, clock: FixedClock
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    token = signed_in(runtime, clock, alice)
    options = json.loads(begin_adding(runtime, clock, alice, token))
    handle = unb64url(options["user"]["id"])
    assert b"alice" not in handle
    assert len(handle) >= 32
    assert options["rp"]["id"] == "localhost"


def test_housekeeping_purges_expired_challenges(runtime: Runtime, clock: FixedClock) -> None:
    from twofold.services import housekeeping

    passwordless_options(runtime, BINDING)
    assert housekeeping.purge(runtime).passkey_challenges == 0
    clock.advance(301)
    assert housekeeping.purge(runtime).passkey_challenges == 1


def test_a_key_satisfies_an_application_that_requires_a_second_factor(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    from twofold.core.oidc import ACR_PHISHING_RESISTANT, acr_claim, amr_claim
    from twofold.services.sign_in_steps import Step, step_for

    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    token = steps.password_step(alice)
    signed = second_factor(runtime, token, key.assertion(second_factor_options(runtime, token)))
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, signed)
        assert session is not None
        step = step_for(
            db, runtime, session, organization_id=None, two_factor_required=True, make_current=False
        )
        assert step is Step.ISSUE
        methods = amr_methods(session.amr)
    assert amr_claim(methods) == ["pwd", "hwk", "mfa"]
    assert acr_claim(methods) == ACR_PHISHING_RESISTANT


def test_a_locked_person_cannot_use_a_key_either(
    runtime: Runtime, clock: FixedClock, steps: Steps
) -> None:
    from datetime import timedelta

    from twofold.core.errors import SecondFactorLocked

    set_passkeys(runtime, "default", "passwordless")
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice, key)
    token = steps.password_step(alice)
    options = second_factor_options(runtime, token)
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        user.code_locked_until = runtime.now() + timedelta(minutes=15)
        user.failed_code_count = 10
        db.commit()
    with pytest.raises(SecondFactorLocked):
        second_factor(runtime, token, key.assertion(options))
    with pytest.raises(SecondFactorLocked):
        passwordless(runtime, BINDING, key.assertion(passwordless_options(runtime, BINDING)))


def test_keys_count_toward_the_ten_when_adding_an_authenticator(
    runtime: Runtime, clock: FixedClock
) -> None:
    from support import add_authenticator

    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    for number in range(9):
        add_passkey(runtime, clock, alice, SoftAuthenticator(), name=f"Key {number}")
    clock.advance(30)
    with pytest.raises(TooManyAuthenticators):
        add_authenticator(runtime, alice, clock)
