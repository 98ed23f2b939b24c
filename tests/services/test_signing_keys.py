"""ID-token signing keys: made on first start, rotated without breaking clients. A new key is
in the JWKS at once and signs only from its activation; the key it replaces stays published
until every token it signed has expired. Time is the FixedClock; nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from pydantic import SecretStr
from sqlalchemy import select

from support import TEST_KEYS, SigningKeyPool
from twofold.core.audit_events import AuditEventType
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock, unix_time
from twofold.services import housekeeping, keys
from twofold.services.key_state import REFRESH_SECONDS, SETTLE_SECONDS
from twofold.services.runtime import Runtime, build_runtime
from twofold.services.signing_keys import (
    ES256,
    ID_TOKEN_LIFETIME,
    RS256,
    KeyState,
    jwks,
    list_signing_keys,
    public_key_set,
    rotate_signing_keys,
    signer,
)
from twofold.settings import Settings
from twofold.store.models import AuditEvent, OidcSigningKey

DAY = timedelta(hours=24)


def published_kids(runtime: Runtime) -> set[str]:
    with runtime.db() as db:
        return {key["kid"] for key in jwks(db, runtime.now())["keys"]}


def signing_kid(runtime: Runtime, alg: str = RS256) -> str:
    with runtime.db() as db:
        return signer(db, runtime, alg).kid


def id_token(runtime: Runtime, alg: str = RS256) -> str:
    """A token as the flow signs one: valid for ID_TOKEN_LIFETIME from now."""
    issued = unix_time(runtime.now())
    claims = {"iss": "https://id.example.org", "sub": "s", "iat": issued}
    claims["exp"] = issued + int(ID_TOKEN_LIFETIME.total_seconds())
    with runtime.db() as db:
        return signer(db, runtime, alg).sign(claims)


def verifies(runtime: Runtime, token: str) -> bool:
    """Whether a client holding the JWKS published now can check the token's signature."""
    with runtime.db() as db:
        key_set = public_key_set(db, runtime.now())
    try:
        jwt.decode(token, key_set)
    except (JoseError, ValueError):
        return False
    return True


def rotate(runtime: Runtime, pool: SigningKeyPool, after: timedelta = DAY) -> dict[str, str]:
    """Rotate; the kids added, by algorithm."""
    with runtime.db() as db:
        rotation = rotate_signing_keys(db, runtime, activate_after=after, generate=pool)
    return {added.alg: added.kid for added in rotation.added}


def states(runtime: Runtime) -> dict[str, KeyState]:
    with runtime.db() as db:
        return {key.kid: key.state for key in list_signing_keys(db, runtime.now())}


def test_first_start_makes_one_key_per_algorithm_and_only_once(
    runtime: Runtime, signing_key_pool: SigningKeyPool
) -> None:
    assert published_kids(runtime) == set()
    made = signing_key_pool.install(runtime)
    assert len(made) == 2
    with runtime.db() as db:
        document = jwks(db, runtime.now())
    assert sorted(key["alg"] for key in document["keys"]) == [ES256, RS256]
    assert all("d" not in key for key in document["keys"])  # public members only
    assert signing_key_pool.install(runtime) == []  # a second start adds nothing
    assert {signing_kid(runtime, RS256), signing_kid(runtime, ES256)} == set(made)


def test_a_new_key_is_published_at_once_and_signs_only_from_its_activation(
    runtime: Runtime, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    old = signing_key_pool.install(runtime)
    old_rs256 = signing_kid(runtime)
    new = rotate(runtime, signing_key_pool)
    assert published_kids(runtime) == {*old, *new.values()}
    assert signing_kid(runtime) == old_rs256
    clock.advance(DAY.total_seconds() - 1)
    assert signing_kid(runtime) == old_rs256
    assert states(runtime)[new[RS256]] is KeyState.NEXT
    clock.advance(1)
    assert signing_kid(runtime) == new[RS256]
    assert signing_kid(runtime, ES256) == new[ES256]
    assert states(runtime)[old_rs256] is KeyState.PUBLISHED_ONLY
    assert states(runtime)[new[RS256]] is KeyState.SIGNING


def test_a_token_of_the_old_key_verifies_until_it_expires_then_the_key_leaves_the_jwks(
    runtime: Runtime, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    signing_key_pool.install(runtime)
    old_rs256 = signing_kid(runtime)
    rotate(runtime, signing_key_pool)
    clock.advance(DAY.total_seconds() - 1)
    last_of_the_old_key = id_token(runtime)  # signed a second before the new key takes over
    clock.advance(ID_TOKEN_LIFETIME.total_seconds())  # the token's last second
    assert verifies(runtime, last_of_the_old_key)
    assert old_rs256 in published_kids(runtime)
    clock.advance(1)  # it has expired: its key is unpublished
    assert old_rs256 not in published_kids(runtime)
    assert not verifies(runtime, last_of_the_old_key)
    assert states(runtime)[old_rs256] is KeyState.UNPUBLISHED
    assert verifies(runtime, id_token(runtime))  # the new key's tokens do
    assert len(published_kids(runtime)) == 2

    # The purge deletes what is unpublished, and nothing else.
    assert housekeeping.count_due(runtime).signing_keys == 2
    assert housekeeping.purge(runtime).signing_keys == 2
    assert old_rs256 not in states(runtime)
    assert len(states(runtime)) == 2


def test_unpublish_at_is_the_new_keys_activation_plus_the_id_token_lifetime(
    runtime: Runtime, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    old = set(signing_key_pool.install(runtime))
    with runtime.db() as db:
        rotation = rotate_signing_keys(
            db, runtime, activate_after=timedelta(minutes=30), generate=signing_key_pool
        )
    activation = clock.now() + timedelta(minutes=30)
    assert {key.activates_at for key in rotation.added} == {activation}
    assert {key.kid for key in rotation.retiring} == old
    assert {key.unpublish_at for key in rotation.retiring} == {activation + ID_TOKEN_LIFETIME}
    with runtime.db() as db:
        event = db.scalars(
            select(AuditEvent).where(AuditEvent.event == AuditEventType.SIGNING_KEYS_ROTATED)
        ).one()
    for kid in (*old, *(key.kid for key in rotation.added)):
        assert kid in event.detail


def test_rotating_twice_in_a_row_lets_each_key_sign_in_turn(
    runtime: Runtime, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    signing_key_pool.install(runtime)
    first = signing_kid(runtime)
    second = rotate(runtime, signing_key_pool)[RS256]  # signs from +24 h
    clock.advance(3600)
    third = rotate(runtime, signing_key_pool)[RS256]  # signs from +25 h
    assert {first, second, third} <= published_kids(runtime)
    assert states(runtime)[second] is KeyState.NEXT
    assert states(runtime)[third] is KeyState.NEXT
    clock.advance(DAY.total_seconds() - 3600)
    assert signing_kid(runtime) == second
    clock.advance(3600)
    assert signing_kid(runtime) == third
    assert first not in published_kids(runtime)  # its last tokens expired just now
    clock.advance(ID_TOKEN_LIFETIME.total_seconds())
    assert published_kids(runtime) >= {third}
    assert second not in published_kids(runtime)
    assert signing_kid(runtime) == third


def test_a_rotation_at_once_supersedes_a_key_still_waiting_to_sign(
    runtime: Runtime, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    signing_key_pool.install(runtime)
    first = signing_kid(runtime)
    waiting = rotate(runtime, signing_key_pool)[RS256]
    now = rotate(runtime, signing_key_pool, after=timedelta(0))[RS256]
    assert signing_kid(runtime) == now
    assert states(runtime)[waiting] is KeyState.PUBLISHED_ONLY  # it will never sign
    assert states(runtime)[first] is KeyState.PUBLISHED_ONLY
    clock.advance(DAY.total_seconds())  # the superseded key's activation comes and goes
    assert signing_kid(runtime) == now
    assert published_kids(runtime) & {first, waiting} == set()


def test_a_rotation_before_any_key_exists_signs_at_once(
    runtime: Runtime, signing_key_pool: SigningKeyPool
) -> None:
    added = rotate(runtime, signing_key_pool)
    assert signing_kid(runtime) == added[RS256]
    assert signing_kid(runtime, ES256) == added[ES256]


@pytest.mark.parametrize("after", [timedelta(hours=-1), timedelta(0)])
def test_an_activation_in_the_past_or_now_signs_at_once(
    runtime: Runtime, signing_key_pool: SigningKeyPool, after: timedelta
) -> None:
    signing_key_pool.install(runtime)
    added = rotate(runtime, signing_key_pool, after=after)
    assert signing_kid(runtime) == added[RS256]


def test_keys_reseal_reseals_the_signing_keys_and_they_still_sign(
    runtime: Runtime, settings: Settings, clock: FixedClock, signing_key_pool: SigningKeyPool
) -> None:
    signing_key_pool.install(runtime)
    before = id_token(runtime)
    new_key = KeyRing.generate("test2").keys["test2"]
    both = KeyRing(keys={**TEST_KEYS.keys, "test2": new_key}, primary_kid="test2")
    only_new = KeyRing(keys={"test2": new_key}, primary_kid="test2")

    def start(ring: KeyRing) -> Runtime:
        configured = settings.model_copy(update={"secret_keys": SecretStr(ring.to_text())})
        cheap = PasswordHashingParams.for_tests()
        return build_runtime(configured, clock=clock, hashing=cheap, apply_migrations=False)

    operator = start(both)
    try:
        keys.promote(operator, "test2")
        clock.advance(REFRESH_SECONDS)
        assert sum(batch.resealed for batch in keys.reseal(operator)) == 2
        clock.advance(SETTLE_SECONDS)
        keys.retire(operator, "test1")  # refused if a signing key were still sealed with it
    finally:
        operator.engine.dispose()
    with runtime.db() as db:
        assert set(db.scalars(select(OidcSigningKey.private_kid))) == {"test2"}
    fresh = start(only_new)  # a server that no longer has the old sealing key
    try:
        after = id_token(fresh)
        assert verifies(fresh, before)
        assert verifies(fresh, after)
    finally:
        fresh.engine.dispose()
