"""Key rotation without downtime: add, promote, reseal, retire, followed by a server that was
started before the rotation and is never rebuilt. Time is the shared FixedClock: a server
re-reads the key state once REFRESH_SECONDS have passed on it, so nothing sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Column, LargeBinary, func, select, update

from support import TEST_KEYS, Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import KeysMismatch, NotFound
from twofold.crypto.key_file import read_key_file
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.notify.mailer import Composed
from twofold.otp.clock import FixedClock
from twofold.services import keys, mail, second_factor, signin
from twofold.services.key_state import REFRESH_SECONDS, SETTLE_SECONDS
from twofold.services.keys import SEALED_COLUMNS, KeyStateRefused
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    Base,
    KeyFingerprint,
    KeyPrimary,
    OutgoingEmail,
    RecoveryCode,
)

CLIENT = ClientInfo()
NEW_KEY = KeyRing.generate("test2").keys["test2"]
BOTH = KeyRing(keys={**TEST_KEYS.keys, "test2": NEW_KEY}, primary_kid=TEST_KEYS.primary_kid)
ONLY_NEW = KeyRing(keys={"test2": NEW_KEY}, primary_kid="test2")

SIGNING_KEYS = "signing keys"  # none yet: no token was signed in these tests


def start(settings: Settings, ring: KeyRing | None, clock: FixedClock) -> Runtime:
    """A server (or an operator's command) started with these keys in TWOFOLD_SECRET_KEYS."""
    configured = settings.model_copy(
        update={"secret_keys": SecretStr(ring.to_text()) if ring else None}
    )
    return build_runtime(
        configured, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )


def enqueue(runtime: Runtime, recipient: str, text: str) -> int:
    with runtime.db() as db:
        row = mail.enqueue(
            db,
            runtime,
            kind="test",
            recipient=recipient,
            composed=Composed(subject="Hello", text=text, html=f"<p>{text}</p>"),
        )
        db.commit()
        return row.id


def sign_in_with_totp(runtime: Runtime, person: Person, clock: FixedClock) -> None:
    clock.advance(30)  # a fresh step, so a code is never refused as reused
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db, runtime, login=person.login, password=person.password, client=CLIENT
        )
        second_factor.verify_totp(db, runtime, started.session, person.totp(clock), CLIENT)


def sign_in_with_recovery_code(runtime: Runtime, person: Person, code: str) -> None:
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db, runtime, login=person.login, password=person.password, client=CLIENT
        )
        second_factor.verify_recovery_code(db, runtime, started.session, code, CLIENT)


def plaintexts(runtime: Runtime) -> dict[tuple[str, int], bytes]:
    """Every sealed value, opened: (column, row id) -> plaintext."""
    opened = {}
    with runtime.db() as db:
        for column in SEALED_COLUMNS:
            model = column.model
            for row in db.scalars(select(model).where(column.kid.is_not(None))):
                kid, sealed = getattr(row, column.kid.key), getattr(row, column.sealed.key)
                opened[(column.label, row.id)] = runtime.keys.open(
                    kid, sealed, context=column.context(row)
                )
    return opened


def kids_in_use(runtime: Runtime) -> dict[str, set[str]]:
    with runtime.db() as db:
        return {
            column.label: set(db.scalars(select(column.kid).where(column.kid.is_not(None))))
            for column in SEALED_COLUMNS
        }


def counts(runtime: Runtime) -> dict[str, tuple[str, dict[str, int], int]]:
    return {
        info.kid: (info.state, info.sealed, info.recovery_codes)
        for info in keys.list_keys(runtime).keys
    }


def snapshot(runtime: Runtime) -> tuple[object, ...]:
    """Everything a refused key command must leave as it was."""
    opened = sorted(plaintexts(runtime).items())
    with runtime.db() as db:
        primary = db.get(KeyPrimary, 1)
        assert primary is not None
        return (
            primary.kid,
            primary.promoted_at,
            sorted((r.kid, r.retired_at) for r in db.scalars(select(KeyFingerprint))),
            db.scalar(select(func.count()).select_from(AuditEvent)),
            db.scalar(select(func.count()).select_from(RecoveryCode)),
            opened,
        )


def test_a_running_server_follows_a_whole_rotation_without_a_restart(
    runtime: Runtime, settings: Settings, clock: FixedClock, alice_with_totp: Person
) -> None:
    # Phase 1 (TWOFOLD_SECRET_KEYS): the operator added test2 to every server in a rolling
    # restart. It is listed second and first alike: only the database decides what seals.
    server = start(settings, BOTH, clock)
    operator = start(settings, KeyRing(keys=BOTH.keys, primary_kid="test2"), clock)
    try:
        assert alice_with_totp.recovery_codes is not None
        before_mail = enqueue(server, "old@example.com", "sealed before the rotation")
        assert kids_in_use(server) == {
            "TOTP secrets": {"test1"},
            "queued emails": {"test1"},
            SIGNING_KEYS: set(),
        }

        # Phase 2: promote. The server picks it up within REFRESH_SECONDS, without a restart.
        keys.promote(operator, "test2")
        clock.advance(REFRESH_SECONDS)
        bob = make_person(server, "bob", with_totp=True)
        after_mail = enqueue(server, "new@example.com", "sealed after the promotion")
        with server.db() as db:
            assert db.get(OutgoingEmail, after_mail).content_kid == "test2"  # type: ignore[union-attr]
            assert db.get(OutgoingEmail, before_mail).content_kid == "test1"  # type: ignore[union-attr]
            bob_secret = db.scalar(select(Authenticator).where(Authenticator.user_id == bob.id))
            assert bob_secret is not None
            assert bob_secret.secret_kid == "test2"
            assert set(
                db.scalars(select(RecoveryCode.key_id).where(RecoveryCode.user_id == bob.id))
            ) == {"test2"}
        # ...and still opens what was sealed before.
        sign_in_with_totp(server, alice_with_totp, clock)
        sign_in_with_totp(server, bob, clock)

        # Retiring now is refused: values are still sealed with test1 (counts given).
        clock.advance(SETTLE_SECONDS)
        unchanged = snapshot(operator)
        with pytest.raises(KeyStateRefused) as caught:
            keys.retire(operator, "test1")
        assert "still seals 1 TOTP secrets, 1 queued emails" in caught.value.detail
        assert "twofold keys reseal" in caught.value.detail
        assert snapshot(operator) == unchanged

        # Phase 3: reseal. Nothing stays under test1; everything opens to the same plaintext.
        before = plaintexts(server)
        reports = list(keys.reseal(operator, batch_size=1))
        assert sum(r.resealed for r in reports) == 2
        assert not any(r.failed for r in reports)
        assert kids_in_use(server) == {
            "TOTP secrets": {"test2"},
            "queued emails": {"test2"},
            SIGNING_KEYS: set(),
        }
        assert plaintexts(server) == before
        assert plaintexts(operator) == before
        assert list(keys.reseal(operator)) == []  # a second run finds nothing to do

        # Phase 4: retire. Alice's unused recovery codes are keyed with test1 and cannot be
        # re-keyed: refused until they are withdrawn explicitly.
        resealed = snapshot(operator)
        with pytest.raises(KeyStateRefused) as caught:
            keys.retire(operator, "test1")
        assert "10 unused recovery codes of 1 people" in caught.value.detail
        assert "--discard-recovery-codes" in caught.value.detail
        assert snapshot(operator) == resealed
        sign_in_with_recovery_code(server, alice_with_totp, alice_with_totp.recovery_codes[0])
        retired = keys.retire(operator, "test1", discard_recovery_codes=True)
        assert retired.discarded_recovery_codes == 9
        with operator.db() as db:
            discarded = db.scalars(
                select(AuditEvent).where(
                    AuditEvent.event == AuditEventType.RECOVERY_CODES_DISCARDED.value
                )
            ).all()
            assert [event.user_id for event in discarded] == [alice_with_totp.id]
        assert counts(operator)["test1"] == (
            "retired",
            {"TOTP secrets": 0, "queued emails": 0, SIGNING_KEYS: 0},
            0,
        )

        # The running server keeps working; a server started without test1 starts and opens.
        clock.advance(REFRESH_SECONDS)
        sign_in_with_totp(server, alice_with_totp, clock)
        assert not server.keys.has("test1")
        fresh = start(settings, ONLY_NEW, clock)
        try:
            sign_in_with_totp(fresh, bob, clock)
            sign_in_with_recovery_code(fresh, bob, bob.recovery_codes[0])  # type: ignore[index]
            with fresh.db() as db:
                queued = db.get(OutgoingEmail, before_mail)
                assert queued is not None
                assert queued.content_sealed is not None
                content = fresh.keys.open(
                    "test2", queued.content_sealed, context=mail.content_context(queued.recipient)
                )
            assert json.loads(content)["text"] == "sealed before the rotation"
        finally:
            fresh.engine.dispose()
    finally:
        server.engine.dispose()
        operator.engine.dispose()


def test_a_server_lacking_the_promoted_key_refuses_to_seal_and_to_start_but_still_opens(
    runtime: Runtime, settings: Settings, clock: FixedClock, alice_with_totp: Person
) -> None:
    operator = start(settings, BOTH, clock)
    try:
        keys.promote(operator, "test2")
    finally:
        operator.engine.dispose()
    clock.advance(REFRESH_SECONDS)
    with pytest.raises(KeysMismatch) as caught:
        enqueue(runtime, "someone@example.com", "hello")
    assert "records key id 'test2' as the primary key" in caught.value.detail
    assert "this server's keys do not include it" in caught.value.detail
    sign_in_with_totp(runtime, alice_with_totp, clock)  # opening needs no primary
    with pytest.raises(KeysMismatch) as caught:
        start(settings, TEST_KEYS, clock)
    assert "'test2' as the primary key" in caught.value.detail


def test_refused_key_commands_say_why_and_change_nothing(
    runtime: Runtime, settings: Settings, clock: FixedClock, alice_with_totp: Person
) -> None:
    operator = start(settings, BOTH, clock)
    elsewhere = start(
        settings, KeyRing(keys={**BOTH.keys, "test3": NEW_KEY}, primary_kid="test1"), clock
    )
    elsewhere.engine.dispose()  # a server recorded test3, which the operator does not have
    try:
        clock.advance(SETTLE_SECONDS)
        unchanged = snapshot(operator)
        cases: list[tuple[object, type[Exception], str]] = [
            (lambda: keys.promote(operator, "nope"), NotFound, "Unknown key id 'nope'"),
            (lambda: keys.retire(operator, "nope"), NotFound, "Known key ids: test1, test2, test3"),
            (lambda: keys.retire(operator, "test1"), KeyStateRefused, "is the primary key"),
            (lambda: keys.promote(operator, "test3"), KeyStateRefused, "does not have key"),
            (lambda: keys.add_key(operator, "test1"), KeyStateRefused, "already in use"),
            (lambda: keys.add_key(operator, "bad kid!"), Exception, "1-32 characters"),
        ]
        for action, error, message in cases:
            with pytest.raises(error) as caught:
                action()  # type: ignore[operator]
            assert message in str(caught.value)
            assert snapshot(operator) == unchanged
        # test2 seals nothing yet: it may be retired, and then never promoted again.
        keys.retire(operator, "test2")
        retired = snapshot(operator)
        with pytest.raises(KeyStateRefused) as refused:
            keys.promote(operator, "test2")
        assert "retired and cannot seal again" in refused.value.detail
        with pytest.raises(KeyStateRefused) as refused:
            keys.retire(operator, "test2")
        assert "already retired" in refused.value.detail
        assert snapshot(operator) == retired
    finally:
        operator.engine.dispose()


def test_retire_right_after_a_promotion_waits_for_servers_to_follow(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    operator = start(settings, BOTH, clock)
    try:
        keys.promote(operator, "test2")
        clock.advance(REFRESH_SECONDS)
        with pytest.raises(KeyStateRefused) as caught:
            keys.retire(operator, "test1")
        assert "servers may still be sealing with 'test1'" in caught.value.detail
        clock.advance(SETTLE_SECONDS)
        keys.retire(operator, "test1")
    finally:
        operator.engine.dispose()


def test_list_counts_what_each_key_seals(
    runtime: Runtime, settings: Settings, clock: FixedClock, alice_with_totp: Person
) -> None:
    operator = start(settings, BOTH, clock)
    try:
        enqueue(operator, "a@example.com", "one")
        enqueue(operator, "b@example.com", "two")
        keys.promote(operator, "test2")
        make_person(operator, "bob", with_totp=True)
        enqueue(operator, "c@example.com", "three")
        listing = keys.list_keys(operator)
        assert listing.primary_kid == "test2"
        assert counts(operator) == {
            "test1": ("decrypt-only", {"TOTP secrets": 1, "queued emails": 2, SIGNING_KEYS: 0}, 10),
            "test2": ("primary", {"TOTP secrets": 1, "queued emails": 1, SIGNING_KEYS: 0}, 10),
        }
        text = repr(listing)
        for key in BOTH.keys.values():
            assert key.hex() not in text
            assert repr(key) not in text
    finally:
        operator.engine.dispose()


def test_reseal_can_be_interrupted_and_run_again_and_reports_what_does_not_open(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    operator = start(settings, BOTH, clock)
    try:
        ids = [enqueue(operator, f"p{n}@example.com", f"message {n}") for n in range(5)]
        with operator.db() as db:  # a value moved to another row no longer opens
            db.execute(
                update(OutgoingEmail)
                .where(OutgoingEmail.id == ids[2])
                .values(recipient="moved@example.com")
            )
            db.commit()
        keys.promote(operator, "test2")
        assert keys.count_to_reseal(operator) == 5
        first = keys.reseal(operator, batch_size=2)
        assert next(first).resealed == 2
        first.close()  # interrupted after one batch
        assert keys.count_to_reseal(operator) == 3
        reports = list(keys.reseal(operator, batch_size=2))
        assert sum(r.resealed for r in reports) == 2
        assert [i for r in reports for i in r.failed_ids] == [ids[2]]
        with operator.db() as db:
            kids = dict(db.execute(select(OutgoingEmail.id, OutgoingEmail.content_kid)).all())
        assert kids == {i: "test1" if i == ids[2] else "test2" for i in ids}
    finally:
        operator.engine.dispose()


# Binary columns that hold nothing secret, so are not sealed: a WebAuthn credential's id and
# public key (decision 0027) are what the authenticator shows to any site that asks.
PUBLIC_BINARY_COLUMNS = {
    ("webauthn_credentials", "credential_id"),
    ("webauthn_credentials", "public_key"),
}


def test_every_sealed_column_is_in_the_one_registry() -> None:
    """A value added later (signing keys, phone numbers) is re-sealed only if registered."""
    sealed: set[tuple[str, str]] = set()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert isinstance(column, Column)
            public = (table.name, column.name) in PUBLIC_BINARY_COLUMNS
            if column.name.endswith("_sealed") or (
                isinstance(column.type, LargeBinary) and "digest" not in column.name and not public
            ):
                sealed.add((table.name, column.name))
    registered = {(c.model.__tablename__, c.sealed.key) for c in SEALED_COLUMNS}
    assert sealed - NOT_SECRET_BINARY == registered


# Binary columns that hold nothing secret: a WebAuthn credential's id and public key
# (decision 0027) are what the browser and the authenticator show anyone who asks.
NOT_SECRET_BINARY = {
    ("webauthn_credentials", "credential_id"),
    ("webauthn_credentials", "public_key"),
}


def test_servers_sharing_a_key_file_follow_add_promote_and_retire(
    tmp_path: Path, clock: FixedClock
) -> None:
    """The embedded default: `keys add` writes the key file, and running servers re-read it."""
    settings = Settings(data_dir=tmp_path / "data", database_url=None, secret_keys=None)
    server = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    operator = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    try:
        alice = make_person(server, "alice", with_totp=True)
        added = keys.add_key(operator)
        assert added.kid == "k2"
        assert added.key_file == settings.key_file
        assert set(read_key_file(settings.key_file).keys) == {"k1", "k2"}
        assert counts(operator)["k2"][0] == "decrypt-only"
        clock.advance(REFRESH_SECONDS)
        assert server.keys.has("k2")
        keys.promote(operator, "k2")
        clock.advance(REFRESH_SECONDS)
        bob = make_person(server, "bob", with_totp=True)
        assert kids_in_use(server)["TOTP secrets"] == {"k1", "k2"}
        list(keys.reseal(operator))
        assert kids_in_use(server)["TOTP secrets"] == {"k2"}
        clock.advance(SETTLE_SECONDS)
        keys.retire(operator, "k1", discard_recovery_codes=True)
        assert set(read_key_file(settings.key_file).keys) == {"k2"}
        clock.advance(REFRESH_SECONDS)
        sign_in_with_totp(server, alice, clock)
        sign_in_with_totp(server, bob, clock)
        again = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
        try:
            sign_in_with_totp(again, alice, clock)
        finally:
            again.engine.dispose()
    finally:
        server.engine.dispose()
        operator.engine.dispose()
