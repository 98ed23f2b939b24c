"""SMS in the domain rules: the amr values, the allowed methods, and the grace for
members whose only method is SMS where it is no longer allowed (decision 0021)."""

from __future__ import annotations

from datetime import timedelta

from support import START
from twofold.core.oidc import acr_claim, amr_claim
from twofold.core.policy import (
    Demand,
    MembershipView,
    Role,
    TwoFactorPolicy,
    access_for,
    methods_text,
    sms_offered,
    stored_methods,
)
from twofold.core.sessions import Method


def test_a_texted_code_is_amr_sms_and_mfa() -> None:
    assert amr_claim([Method.PASSWORD, Method.SMS]) == ["pwd", "sms", "mfa"]
    assert amr_claim([Method.PASSWORD, Method.TOTP, Method.SMS]) == ["pwd", "otp", "sms", "mfa"]
    assert amr_claim([Method.PASSWORD, Method.TOTP]) == ["pwd", "otp", "mfa"]
    assert acr_claim([Method.PASSWORD, Method.SMS]) == acr_claim([Method.PASSWORD, Method.TOTP])


def test_methods_are_stored_in_canonical_order_with_totp_always_there() -> None:
    assert methods_text({"sms", "totp"}) == "totp,sms"
    assert stored_methods("sms") == {"totp", "sms"}
    assert stored_methods("") == {"totp"}


def view(allowed: str, changed_days_ago: int | None, grace_days: int) -> MembershipView:
    changed = START - timedelta(days=changed_days_ago) if changed_days_ago is not None else None
    return MembershipView(
        organization_id=1,
        slug="acme",
        name="Acme",
        role=Role.MEMBER,
        joined_at=START - timedelta(days=100),
        policy=TwoFactorPolicy.OPTIONAL,
        required_since=None,
        grace_days=grace_days,
        allowed_methods=stored_methods(allowed),
        methods_changed_at=changed,
    )


def access(membership: MembershipView, kinds: set[str]) -> tuple[Demand, bool]:
    found = access_for(
        has_two_factor=bool(kinds),
        is_superadmin=False,
        memberships=[membership],
        current=membership,
        verified_for_current=True,
        now=START,
        method_kinds=frozenset(kinds),
    )
    return found.demand, found.another_method


def test_sms_only_members_keep_it_through_the_grace_then_must_add_another_method() -> None:
    assert access(view("totp,sms", None, 7), {"sms"}) == (Demand.NONE, False)
    assert access(view("totp", 3, 7), {"sms"}) == (Demand.GRACE, True)
    assert access(view("totp", 7, 7), {"sms"}) == (Demand.ENROLL, True)
    assert access(view("totp", None, 7), {"sms"}) == (Demand.ENROLL, True)  # joined since


def test_members_with_an_app_as_well_are_not_asked_for_anything() -> None:
    assert access(view("totp", 7, 7), {"sms", "totp"}) == (Demand.NONE, False)


def test_sms_is_offered_only_where_allowed_and_with_countries() -> None:
    assert sms_offered(view("totp,sms", None, 0), ("GB",))
    assert not sms_offered(view("totp,sms", None, 0), ())
    assert not sms_offered(view("totp", None, 0), ("GB",))
    assert not sms_offered(None, ("GB",))
