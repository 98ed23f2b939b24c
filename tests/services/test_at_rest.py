"""What a stolen database holds: sealed secrets and keyed digests, never a secret or a code."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person, make_person
from twofold.core.errors import InvalidCode, InvalidCredentials, InvalidRecoveryCode
from twofold.crypto.keyring import SealError
from twofold.otp.clock import FixedClock
from twofold.otp.recovery import normalize_recovery_code
from twofold.services import account, users
from twofold.services.runtime import Runtime
from twofold.services.totp_secrets import open_secret
from twofold.store.models import Authenticator, Base, RecoveryCode, User


def every_value(runtime: Runtime) -> Iterator[tuple[str, object]]:
    """(table.column, value) for every column of every row of every table."""
    with runtime.db() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)).mappings():
                for column, value in row.items():
                    yield f"{table.name}.{column}", value


def forms_of_secret(secret: bytes) -> list[bytes]:
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return [secret, b32.encode(), b32.lower().encode(), secret.hex().encode()]


def forms_of_code(code: str) -> list[bytes]:
    normalized = normalize_recovery_code(code)
    return [f.encode() for f in {code, code.upper(), normalized, normalized.upper()}]


def leaks(runtime: Runtime, needles: list[bytes]) -> list[str]:
    found = []
    for where, value in every_value(runtime):
        if value is None:
            continue
        haystack = value if isinstance(value, bytes) else str(value).encode()
        if any(needle in haystack for needle in needles):
            found.append(where)
    return found


def use_the_account(steps, runtime: Runtime, person: Person, clock: FixedClock) -> list[str]:
    """Sign in every way, fail every way, and regenerate the codes; returns the new codes."""
    assert person.recovery_codes is not None
    with pytest.raises(InvalidCredentials):
        steps.sign_in(person, password=OTHER_STRONG_PASSWORD)
    steps.totp(steps.password_step(person), person.totp(clock))
    clock.advance(30)
    with pytest.raises(InvalidCode):
        steps.totp(steps.password_step(person), steps.wrong_code(person))
    steps.recovery(steps.password_step(person), person.recovery_codes[0])
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(person), person.recovery_codes[0])
    with runtime.db() as db:
        user = users.get_by_login(db, person.login)
        return account.regenerate_recovery_codes(db, runtime, user, person.password, steps.client)


def test_no_row_holds_the_totp_secret_in_any_form(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    assert alice_with_totp.secret is not None
    use_the_account(steps, runtime, alice_with_totp, clock)
    assert leaks(runtime, forms_of_secret(alice_with_totp.secret)) == []


def test_no_row_holds_a_recovery_code_in_any_form(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    assert alice_with_totp.recovery_codes is not None
    new_codes = use_the_account(steps, runtime, alice_with_totp, clock)
    needles = [
        f for code in alice_with_totp.recovery_codes + new_codes for f in forms_of_code(code)
    ]
    assert leaks(runtime, needles) == []


def test_no_row_holds_a_password_in_plain_text(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    use_the_account(steps, runtime, alice_with_totp, clock)
    assert leaks(runtime, [STRONG_PASSWORD.encode(), OTHER_STRONG_PASSWORD.encode()]) == []


def test_the_scan_would_find_a_secret_if_one_were_there(
    runtime: Runtime, alice_with_totp: Person
) -> None:
    assert alice_with_totp.secret is not None
    with runtime.db() as db:
        db.execute(
            update(User)
            .where(User.id == alice_with_totp.id)
            .values(email=base64.b32encode(alice_with_totp.secret).decode().lower() + "@x.org")
        )
        db.commit()
    assert leaks(runtime, forms_of_secret(alice_with_totp.secret)) == ["users.email"]


def test_recovery_codes_are_stored_as_32_byte_keyed_digests(
    runtime: Runtime, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes is not None
    with runtime.db() as db:
        rows = list(
            db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == alice_with_totp.id))
        )
    assert all(len(row.code_digest) == 32 for row in rows)
    expected = {
        runtime.keys.recovery_code_digest(alice_with_totp.id, normalize_recovery_code(code))
        for code in alice_with_totp.recovery_codes
    }
    assert {row.code_digest for row in rows} == expected


def test_a_sealed_secret_copied_to_another_persons_row_does_not_open(
    runtime: Runtime, alice_with_totp: Person
) -> None:
    bob = make_person(runtime, "bob", with_totp=True)
    with runtime.db() as db:
        alices = users.confirmed_authenticator(db, alice_with_totp.id)
        assert alices is not None
        db.execute(
            update(Authenticator)
            .where(Authenticator.user_id == bob.id)
            .values(secret_kid=alices.secret_kid, secret_sealed=alices.secret_sealed)
        )
        db.commit()
    with runtime.db() as db:
        bobs = users.confirmed_authenticator(db, bob.id)
        assert bobs is not None
        assert open_secret(runtime, bobs, alice_with_totp.id) == alice_with_totp.secret
        with pytest.raises(SealError):
            open_secret(runtime, bobs, bob.id)
