"""SMS as a second factor (decision 0021): enrollment, the code at sign-in (single use,
5 minutes, 5 wrong tries, the shared lockout), the resend wait, the limits against SMS
pumping, provider failures, and the organization's allowed methods."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from support import (
    CapturingSms,
    Person,
    allow_sms,
    enroll_sms,
    make_person,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    AlreadyExists,
    InvalidCode,
    InvalidInput,
    MalformedCode,
    SecondFactorLocked,
    SmsCodeExpired,
    SmsLimitReached,
    SmsResendTooSoon,
    SmsSendFailed,
)
from twofold.core.policy import Demand, TwoFactorPolicy, parse_methods
from twofold.core.sessions import Method, amr_methods
from twofold.otp.clock import FixedClock
from twofold.services import organizations, second_factor, sessions, sms, sms_codes
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import Authenticator, AuthSession, SmsChallenge, User

PHONE = "+447400123456"


@pytest.fixture
def texts(runtime: Runtime) -> CapturingSms:
    return allow_sms(runtime)


@pytest.fixture
def bob(runtime: Runtime, texts: CapturingSms) -> Person:
    person = make_person(runtime, "bob")
    enroll_sms(runtime, person, PHONE)
    return person


def send(steps, token: str, client: ClientInfo | None = None) -> sms_codes.SentCode:
    with steps.runtime.db() as db:
        session = sessions.find_session(db, steps.runtime, token)
        assert session is not None
        return second_factor.send_sign_in_code(db, steps.runtime, session, client or steps.client)


def verify(steps, token: str, code: str) -> str:
    with steps.runtime.db() as db:
        session = sessions.find_session(db, steps.runtime, token)
        assert session is not None
        return second_factor.verify_sms_code(db, steps.runtime, session, code, steps.client)


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


# --- enrollment ----------------------------------------------------------------------------


def test_a_phone_as_first_method_turns_2fa_on_with_recovery_codes(
    steps, runtime: Runtime, bob: Person, texts: CapturingSms
) -> None:
    assert bob.recovery_codes is not None
    assert len(bob.recovery_codes) == 10
    with runtime.db() as db:
        methods = sms.methods_shown(db, runtime, bob.id, to_owner=False)
        row = db.scalar(select(Authenticator).where(Authenticator.user_id == bob.id))
        assert row is not None
    assert [(m.kind, m.name, m.phone) for m in methods] == [
        ("sms", "Text messages", "+44 •••• ••34 56")
    ]
    assert PHONE.encode() not in row.secret_sealed  # sealed at rest
    assert steps.events(AuditEventType.TWO_FACTOR_ENABLED)
    assert steps.sign_in(bob).needs_second_factor


def test_an_invalid_number_is_refused_before_anything_is_sent(
    runtime: Runtime, texts: CapturingSms
) -> None:
    person = make_person(runtime, "carol")
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        current = organizations.membership_views(db, user)[0]
        with pytest.raises(InvalidInput) as refused:
            sms.begin_phone(db, runtime, user, phone="12", current=current, client=ClientInfo())
    assert refused.value.field == "phone"
    assert texts.messages == []


def test_sms_cannot_be_set_up_where_the_organization_does_not_allow_it(
    runtime: Runtime, texts: CapturingSms
) -> None:
    person = make_person(runtime, "carol")
    with runtime.db() as db:
        organizations.get_organization(db, "default").allowed_methods = "totp"
        db.commit()
        user = db.get(User, person.id)
        assert user is not None
        current = organizations.membership_views(db, user)[0]
        with pytest.raises(InvalidInput):
            sms.begin_phone(db, runtime, user, phone=PHONE, current=current, client=ClientInfo())
    assert texts.messages == []


def test_adding_a_phone_needs_the_password_and_a_second_factor_and_only_one_phone(
    runtime: Runtime, texts: CapturingSms, clock: FixedClock
) -> None:
    alice = make_person(runtime, "alice", with_totp=True)
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        current = organizations.membership_views(db, user)[0]
        with pytest.raises(InvalidCode):
            sms.begin_phone(
                db,
                runtime,
                user,
                phone=PHONE,
                current=current,
                client=ClientInfo(),
                password=alice.password,
                code="000000" if alice.totp(clock) != "000000" else "1",
            )
        clock.advance(30)
        sms.begin_phone(
            db,
            runtime,
            user,
            phone=PHONE,
            current=current,
            client=ClientInfo(),
            password=alice.password,
            code=alice.totp(clock),
        )
        codes, token = sms.confirm_phone(db, runtime, user, texts.last_code(), ClientInfo())
        assert codes is None
        assert token is None
        kinds = sorted(m.kind for m in sms.methods_shown(db, runtime, alice.id, to_owner=True))
        assert kinds == ["sms", "totp"]
        clock.advance(30)
        with pytest.raises(AlreadyExists):
            sms.begin_phone(
                db,
                runtime,
                user,
                phone="+12015550123",
                current=current,
                client=ClientInfo(),
                password=alice.password,
                code=alice.totp(clock),
            )


# --- the code at sign-in ---------------------------------------------------------------------


def test_a_texted_code_signs_in_once_and_the_session_says_sms(
    steps, runtime: Runtime, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    sent = send(steps, token)
    assert sent.phone_masked == "+44 •••• ••34 56"
    code = texts.last_code(PHONE)
    new_token = verify(steps, token, code)
    session = steps.find(new_token)
    assert session is not None
    assert Method.SMS in amr_methods(session.amr)
    event = steps.events(AuditEventType.SMS_SENT)[-1]
    assert steps.detail(event)["to"] == "+44 •••• ••34 56"
    assert code not in event.detail
    assert PHONE not in event.detail
    # The same code in another sign-in: that session has no code of its own.
    other = steps.password_step(bob)
    with pytest.raises(SmsCodeExpired):
        verify(steps, other, code)


def test_a_wrong_code_counts_on_the_code_and_toward_the_lock(
    steps, runtime: Runtime, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    send(steps, token)
    code = texts.last_code()
    with pytest.raises(InvalidCode):
        verify(steps, token, wrong(code))
    assert steps.user(bob).failed_code_count == 1
    with runtime.db() as db:
        tries = select(SmsChallenge.wrong_tries).where(SmsChallenge.purpose == "sign_in")
        assert db.scalar(tries) == 1
    with pytest.raises(MalformedCode):  # not a guess: not counted
        verify(steps, token, "12ab")
    assert steps.user(bob).failed_code_count == 1


def test_after_five_wrong_tries_the_code_is_dead_even_when_right(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    send(steps, token)
    code = texts.last_code()
    for _ in range(5):
        with pytest.raises(InvalidCode):
            verify(steps, token, wrong(code))
    with pytest.raises(SmsCodeExpired):
        verify(steps, token, code)
    assert steps.user(bob).failed_code_count == 5


def test_wrong_texted_codes_lock_like_any_other_wrong_code(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    locked = False
    for _ in range(2):
        clock.advance(31)
        send(steps, token)
        code = texts.last_code()
        for _ in range(5):
            try:
                verify(steps, token, wrong(code))
            except InvalidCode:
                continue
            except SecondFactorLocked:
                locked = True
                break
    assert locked
    assert steps.user(bob).code_locked_until is not None


def test_a_code_expires_after_five_minutes(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    send(steps, token)
    clock.advance(5 * 60)
    with pytest.raises(SmsCodeExpired):
        verify(steps, token, texts.last_code())


def test_a_new_code_waits_thirty_seconds_and_replaces_the_old_one(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(60)
    token = steps.password_step(bob)
    send(steps, token)
    first = texts.last_code()
    clock.advance(10)
    with pytest.raises(SmsResendTooSoon) as waiting:
        send(steps, token)
    assert waiting.value.seconds == 20
    clock.advance(20)
    send(steps, token)
    second = texts.last_code()
    if first != second:
        with pytest.raises(InvalidCode):
            verify(steps, token, first)
    assert verify(steps, token, second)


# --- limits against SMS pumping --------------------------------------------------------------


def test_at_most_five_texts_per_account_per_hour(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(3600)  # the enrollment's text is in an older window
    token = steps.password_step(bob)
    for _ in range(5):
        clock.advance(31)
        send(steps, token)
    clock.advance(31)
    with pytest.raises(SmsLimitReached) as refused:
        send(steps, token)
    assert refused.value.scope == "account"
    assert steps.events(AuditEventType.SMS_LIMIT_REACHED)
    clock.advance(3600)
    token = steps.password_step(bob)
    send(steps, token)  # a new window


def test_the_per_address_and_global_limits_hold(
    steps, runtime: Runtime, texts: CapturingSms, clock: FixedClock
) -> None:
    people = [make_person(runtime, f"p{i}") for i in range(4)]
    for person in people:
        enroll_sms(runtime, person)
    runtime.settings = runtime.settings.model_copy(
        update={"sms_per_ip_per_hour": 2, "sms_global_per_hour": 3}
    )
    clock.advance(3600)
    tokens = [steps.password_step(person) for person in people]
    send(steps, tokens[0], ClientInfo(ip="198.51.100.1"))
    send(steps, tokens[1], ClientInfo(ip="198.51.100.1"))
    with pytest.raises(SmsLimitReached) as refused:
        send(steps, tokens[2], ClientInfo(ip="198.51.100.1"))
    assert refused.value.scope == "ip"
    send(steps, tokens[2], ClientInfo(ip="198.51.100.2"))
    with pytest.raises(SmsLimitReached) as refused:
        send(steps, tokens[3], ClientInfo(ip="198.51.100.3"))
    assert refused.value.scope == "global"


def test_a_provider_failure_is_audited_and_costs_no_slot_and_no_wait(
    steps, bob: Person, texts: CapturingSms, clock: FixedClock
) -> None:
    clock.advance(3600)
    token = steps.password_step(bob)
    texts.fail = "timeout"
    for _ in range(6):
        with pytest.raises(SmsSendFailed):
            send(steps, token)
    failed = steps.events(AuditEventType.SMS_SEND_FAILED)
    assert steps.detail(failed[-1]) == {
        "purpose": "sign_in",
        "reason": "timeout",
        "to": "+44 •••• ••34 56",
    }
    texts.fail = None
    for _ in range(5):  # the whole hour's five are still there, and no wait
        send(steps, token)
        clock.advance(31)
    assert verify(steps, token, texts.last_code())


# --- policy ----------------------------------------------------------------------------------


def test_totp_is_always_allowed_and_sms_needs_countries(
    runtime: Runtime,
) -> None:
    assert parse_methods("sms, TOTP") == {"totp", "sms"}
    with pytest.raises(InvalidInput):
        parse_methods("sms")
    with pytest.raises(InvalidInput):
        parse_methods("totp,email")
    with runtime.db() as db:
        organization = organizations.get_organization(db, "default")
        with pytest.raises(InvalidInput) as refused:
            organizations.set_policy(
                db,
                runtime,
                organization,
                two_factor=TwoFactorPolicy.OPTIONAL,
                grace_days=None,
                sign_out_everyone=False,
                methods=frozenset({"totp", "sms"}),
            )
    assert "TWOFOLD_SMS_ALLOWED_COUNTRIES" in refused.value.detail


def test_production_with_the_outbox_refuses_to_allow_sms(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"sms_allowed_countries": "GB", "env": "production"}
    )
    with runtime.db() as db:
        organization = organizations.get_organization(db, "default")
        with pytest.raises(InvalidInput) as refused:
            organizations.set_policy(
                db,
                runtime,
                organization,
                two_factor=TwoFactorPolicy.OPTIONAL,
                grace_days=None,
                sign_out_everyone=False,
                methods=frozenset({"totp", "sms"}),
            )
    assert "outbox" in refused.value.detail


def _demand(runtime: Runtime, person: Person) -> tuple[Demand, bool]:
    with runtime.db() as db:
        user = db.get(User, person.id)
        session = db.scalar(
            select(AuthSession)
            .where(AuthSession.user_id == person.id)
            .order_by(AuthSession.id.desc())
        )
        assert user is not None
        assert session is not None
        access = organizations.standing(db, runtime, user, session).access
        db.rollback()
    return access.demand, access.another_method


def test_when_sms_stops_being_allowed_sms_only_members_keep_it_through_the_grace_period(
    steps, runtime: Runtime, bob: Person, clock: FixedClock
) -> None:
    steps.password_step(bob)
    assert _demand(runtime, bob) == (Demand.NONE, False)
    clock.advance(60)
    with runtime.db() as db:
        organization = organizations.get_organization(db, "default")
        organizations.set_policy(
            db,
            runtime,
            organization,
            two_factor=TwoFactorPolicy.OPTIONAL,
            grace_days=7,
            sign_out_everyone=False,
            methods=frozenset({"totp"}),
        )
        assert organizations.members_with_sms_only(db, organization.id) == 1
    assert _demand(runtime, bob) == (Demand.GRACE, True)
    clock.advance(7 * 86400)
    assert _demand(runtime, bob) == (Demand.ENROLL, True)


def test_production_refuses_to_start_with_the_outbox_while_an_organization_allows_sms(
    runtime: Runtime, texts: CapturingSms
) -> None:
    from twofold.core.errors import ConfigurationError
    from twofold.services.runtime import check_sms_provider

    production = runtime.settings.model_copy(update={"env": "production"})
    with runtime.db() as db:
        with pytest.raises(ConfigurationError) as refused:
            check_sms_provider(db, production)
        check_sms_provider(db, production.model_copy(update={"sms_provider": "webhook"}))
        check_sms_provider(db, runtime.settings)
    assert "outbox" in refused.value.detail
