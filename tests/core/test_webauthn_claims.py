"""What a security key or passkey puts in a token (decision 0027): `hwk` for one bound to
its device, `swk` for a synced passkey, `user` for the device's own user verification,
`mfa` with either, and the phishing-resistant level, which also satisfies `mfa`."""

from __future__ import annotations

from twofold.core.oidc import (
    ACR_PASSWORD,
    ACR_PHISHING_RESISTANT,
    ACR_TWO_FACTOR,
    acr_claim,
    amr_claim,
    has_second_factor,
)
from twofold.core.sessions import Method


def test_a_security_key_after_the_password_is_hwk_and_mfa() -> None:
    assert amr_claim([Method.PASSWORD, Method.HARDWARE_KEY]) == ["pwd", "hwk", "mfa"]
    assert acr_claim([Method.PASSWORD, Method.HARDWARE_KEY]) == ACR_PHISHING_RESISTANT


def test_a_synced_passkey_without_a_password_is_swk_user_and_mfa() -> None:
    methods = [Method.SOFTWARE_KEY, Method.USER_VERIFICATION]
    assert amr_claim(methods) == ["swk", "user", "mfa"]
    assert has_second_factor(methods)
    assert acr_claim(methods) == ACR_PHISHING_RESISTANT


def test_codes_reach_mfa_but_not_the_phishing_resistant_level() -> None:
    assert acr_claim([Method.PASSWORD, Method.TOTP]) == ACR_TWO_FACTOR
    assert acr_claim([Method.PASSWORD, Method.SMS]) == ACR_TWO_FACTOR
    assert acr_claim([Method.PASSWORD]) == ACR_PASSWORD
    assert amr_claim([Method.PASSWORD, Method.USER_VERIFICATION]) == ["pwd", "user"]
