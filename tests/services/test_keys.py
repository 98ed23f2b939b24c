"""Start-up checks: the wrong keys (or an old schema) fail loudly, never half-work."""

from __future__ import annotations

import gc
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from support import TEST_KEYS, Person
from twofold.core.errors import ConfigurationError, KeysMismatch
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.services import second_factor, signin
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import KeyFingerprint

CLIENT = ClientInfo()


def start(settings: Settings, keys: KeyRing | None, clock: FixedClock) -> Runtime:
    configured = settings.model_copy(
        update={"secret_keys": SecretStr(keys.to_text()) if keys else None}
    )
    return build_runtime(
        configured, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )


def test_the_same_keys_start_again(runtime: Runtime, settings: Settings, clock: FixedClock) -> None:
    again = start(settings, TEST_KEYS, clock)
    try:
        assert again.keys.fingerprints() == TEST_KEYS.fingerprints()
        with again.db() as db:
            recorded = {row.kid: row.fingerprint for row in db.scalars(select(KeyFingerprint))}
        assert recorded == TEST_KEYS.fingerprints()
    finally:
        again.engine.dispose()


def test_a_different_key_under_the_same_id_is_refused(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    impostor = KeyRing.generate(TEST_KEYS.primary_kid)
    with pytest.raises(KeysMismatch) as caught:
        start(settings, impostor, clock)
    assert TEST_KEYS.primary_kid in str(caught.value)


def test_a_key_ring_without_the_original_key_id_is_refused(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    with pytest.raises(KeysMismatch) as caught:
        start(settings, KeyRing.generate("other"), clock)
    assert TEST_KEYS.primary_kid in str(caught.value)


def test_a_refused_start_closes_its_database_connections(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    with pytest.raises(KeysMismatch):
        start(settings, KeyRing.generate("other"), clock)
    gc.collect()  # a connection left open would warn (an error here) as it is collected


def test_a_new_key_added_beside_the_original_is_accepted(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    rotated = KeyRing(
        keys={"test2": KeyRing.generate("test2").keys["test2"], **TEST_KEYS.keys},
        primary_kid="test2",
    )
    start(settings, rotated, clock).engine.dispose()
    with pytest.raises(KeysMismatch):
        start(settings, KeyRing.generate("test2"), clock)


def test_a_shared_database_without_configured_keys_is_refused(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="postgresql+psycopg://twofold@db.invalid/twofold",
        secret_keys=None,
    )
    with pytest.raises(ConfigurationError) as caught:
        build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    assert "TWOFOLD_SECRET_KEYS" in str(caught.value)
    assert not settings.key_file.exists()


def test_the_embedded_default_creates_a_private_key_file_in_the_data_dir(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None, secret_keys=None)
    runtime = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    runtime.engine.dispose()
    key_file = tmp_path / "data" / "secret-keys"
    assert settings.key_file == key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert KeyRing.parse(key_file.read_text()).fingerprints() == runtime.keys.fingerprints()


def test_the_embedded_default_reuses_its_key_file_on_the_next_start(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None, secret_keys=None)
    first = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    first.engine.dispose()
    second = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    second.engine.dispose()
    assert second.keys.fingerprints() == first.keys.fingerprints()


def start_together(settings: Settings, rings: list[KeyRing], clock: FixedClock) -> list[object]:
    """One thread per ring, all calling build_runtime at once; what each got, in any order."""
    barrier = threading.Barrier(len(rings), timeout=10)
    outcomes: list[object] = []

    def start_server(ring: KeyRing) -> None:
        barrier.wait()
        try:
            start(settings, ring, clock).engine.dispose()
            outcomes.append("started")
        except Exception as error:  # reported in the main thread
            outcomes.append(error)

    threads = [threading.Thread(target=start_server, args=(ring,)) for ring in rings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a start-up hung"
    return outcomes


def test_servers_starting_together_with_a_new_key_all_start(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    """Processes behind a load balancer, restarted at once after a key was added."""
    keys = dict(TEST_KEYS.keys)
    for round_number in range(5):
        new_kid = f"added{round_number}"
        keys[new_kid] = KeyRing.generate(new_kid).keys[new_kid]
        ring = KeyRing(keys=keys, primary_kid=new_kid)
        assert start_together(settings, [ring] * 4, clock) == ["started"] * 4


def test_servers_starting_together_with_different_keys_under_a_new_id_start_once(
    runtime: Runtime, settings: Settings, clock: FixedClock
) -> None:
    keys = dict(TEST_KEYS.keys)
    for round_number in range(5):
        new_kid = f"added{round_number}"
        candidates = [KeyRing.generate(new_kid).keys[new_kid] for _ in range(4)]
        rings = [KeyRing(keys={**keys, new_kid: key}, primary_kid=new_kid) for key in candidates]
        outcomes = start_together(settings, rings, clock)
        assert outcomes.count("started") == 1, outcomes
        assert all(isinstance(o, KeysMismatch) for o in outcomes if o != "started"), outcomes
        with runtime.db() as db:
            recorded = db.get(KeyFingerprint, new_kid)
            assert recorded is not None
        [keys[new_kid]] = [
            key
            for key, ring in zip(candidates, rings, strict=True)
            if ring.fingerprints()[new_kid] == recorded.fingerprint
        ]


def test_after_a_key_rotation_earlier_secrets_and_recovery_codes_still_work(
    runtime: Runtime, settings: Settings, clock: FixedClock, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes is not None
    new_key = KeyRing.generate("test2").keys["test2"]
    rotated = start(
        settings, KeyRing(keys={"test2": new_key, **TEST_KEYS.keys}, primary_kid="test2"), clock
    )
    try:
        for second_step, code in (
            (second_factor.verify_totp, alice_with_totp.totp(clock)),
            (second_factor.verify_recovery_code, alice_with_totp.recovery_codes[0]),
        ):
            with rotated.db() as db:
                started = signin.sign_in_with_password(
                    db, rotated, login="alice", password=alice_with_totp.password, client=CLIENT
                )
                second_step(db, rotated, started.session, code, CLIENT)
    finally:
        rotated.engine.dispose()


def test_a_database_that_is_not_migrated_is_refused_with_what_to_run(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        secret_keys=TEST_KEYS.to_text(),
    )
    with pytest.raises(ConfigurationError) as caught:
        build_runtime(
            settings, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
        )
    assert "twofold migrate" in str(caught.value)
