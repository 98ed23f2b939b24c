"""Session states and the amr (RFC 8176) helpers."""

from __future__ import annotations

from twofold.core.sessions import Method, SessionState, amr_methods, amr_string


def test_amr_values_are_the_rfc8176_names() -> None:
    assert [m.value for m in Method] == ["pwd", "otp", "rcv", "sms", "hwk", "swk", "user"]


def test_amr_string_joins_methods_with_spaces_in_order() -> None:
    assert amr_string([Method.PASSWORD, Method.TOTP]) == "pwd otp"
    assert amr_string([Method.PASSWORD]) == "pwd"


def test_amr_string_of_no_methods_is_empty() -> None:
    assert amr_string([]) == ""


def test_amr_methods_reads_back_what_amr_string_wrote() -> None:
    methods = [Method.PASSWORD, Method.RECOVERY_CODE]
    assert amr_methods(amr_string(methods)) == methods


def test_amr_methods_skips_unknown_values_and_extra_spaces() -> None:
    assert amr_methods("  pwd  face otp ") == [Method.PASSWORD, Method.TOTP]
    assert amr_methods("") == []


def test_session_states_are_stored_under_stable_names() -> None:
    assert SessionState.PASSWORD_VERIFIED == "password_verified"
    assert SessionState.AUTHENTICATED == "authenticated"
