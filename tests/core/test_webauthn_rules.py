"""The rules of security keys and passkeys (decision 0027), without a database: where they
are accepted, when a passkey alone signs in, which amr a key earns, the cloned-key rule and
which relying-party ids fit a host."""

from __future__ import annotations

import pytest

from twofold.core.errors import InvalidInput, SignCountRegressed
from twofold.core.sessions import Method
from twofold.core.webauthn import (
    accepted_in,
    ensure_sign_count_advances,
    method_of,
    passkey_name,
    passwordless_allowed,
    rp_id_fits,
)


def test_keys_are_refused_only_where_the_policy_is_off() -> None:
    assert accepted_in("second-factor")
    assert accepted_in("passwordless")
    assert accepted_in(None)  # no organization
    assert not accepted_in("off")
    assert accepted_in("nonsense")  # an unknown value is the default


def test_passwordless_needs_every_organization_to_allow_it() -> None:
    assert passwordless_allowed(["passwordless"])
    assert passwordless_allowed(["passwordless", "passwordless"])
    assert not passwordless_allowed(["passwordless", "second-factor"])
    assert not passwordless_allowed(["passwordless", "off"])
    assert not passwordless_allowed([])  # a person in no organization types the password


def test_a_synced_passkey_is_swk_and_a_device_bound_key_hwk() -> None:
    assert method_of(backup_eligible=True) is Method.SOFTWARE_KEY
    assert method_of(backup_eligible=False) is Method.HARDWARE_KEY


@pytest.mark.parametrize(
    ("stored", "reported", "refused"),
    [(0, 0, False), (0, 1, False), (5, 6, False), (5, 5, True), (5, 4, True), (5, 0, True)],
)
def test_a_counter_that_does_not_advance_is_a_clone(
    stored: int, reported: int, refused: bool
) -> None:
    if refused:
        with pytest.raises(SignCountRegressed):
            ensure_sign_count_advances(stored, reported)
    else:
        ensure_sign_count_advances(stored, reported)


@pytest.mark.parametrize(
    ("rp_id", "host", "fits"),
    [
        ("login.example.com", "login.example.com", True),
        ("example.com", "login.example.com", True),
        ("EXAMPLE.com.", "login.example.com", True),
        ("ample.com", "login.example.com", False),
        ("other.com", "login.example.com", False),
        ("com", "login.example.com", False),
        ("localhost", "localhost", True),
        ("127.0.0.1", "127.0.0.1", True),
        ("0.0.1", "127.0.0.1", False),
        ("", "login.example.com", False),
    ],
)
def test_the_rp_id_is_the_host_or_a_parent_domain(rp_id: str, host: str, fits: bool) -> None:
    assert rp_id_fits(rp_id, host) is fits


def test_a_name_is_one_to_sixty_four_printable_characters() -> None:
    assert passkey_name("  Blue   key ") == "Blue key"
    for bad in ("", "   ", "x" * 65, "tab\there"):
        with pytest.raises(InvalidInput):
            passkey_name(bad)
