"""/admin/policy: preview and apply an organization's 2FA policy, allowed methods, and its
security-key settings (passkeys, phishing resistance, remember this browser; decision 0029)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import (
    MAX_REMEMBER_DAYS,
    MethodKind,
    PasskeyPolicy,
    PhishingResistantPolicy,
    TwoFactorPolicy,
    parse_methods,
    parse_passkeys,
    parse_phishing_resistant,
    parse_policy,
    parse_remember_days,
)
from twofold.core.words import translate
from twofold.services import organizations
from twofold.services.admin_scope import AdminScope
from twofold.services.runtime import Runtime
from twofold.store.models import Organization
from twofold.web.deps import (
    AuthenticatedSession,
    ClientDep,
    DbDep,
    RuntimeDep,
)
from twofold.web.forms import Refused, submit
from twofold.web.pages.admin.console import OrgDep, ScopeDep, console_page
from twofold.web.rendering import redirect

router = APIRouter(prefix="/admin")


@dataclass(frozen=True)
class KeyChoice:
    """The security-key settings asked for (None: unchanged)."""

    passkeys: PasskeyPolicy | None
    phishing_resistant: PhishingResistantPolicy | None
    remember_days: int | None


def _policy_page(
    request: Request,
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    organization: Organization,
    *,
    sms_chosen: bool,
    **context: Any,
) -> Response:
    reason = organizations.sms_unavailable_reason(runtime)
    sms_allowed_now = organizations.allows_sms(organization)
    return console_page(
        request,
        "admin/policy.html",
        db,
        scope,
        organization,
        sms_chosen=sms_chosen,
        sms_allowed_now=sms_allowed_now,
        sms_unavailable=translate(reason) if reason is not None else None,
        max_remember_days=MAX_REMEMBER_DAYS,
        **context,
    )


def _chosen_keys(organization: Organization) -> dict[str, Any]:
    return {
        "passkeys_chosen": organization.passkeys,
        "phishing_resistant_chosen": organization.phishing_resistant,
        "remember_days": organization.remember_days,
    }


@router.get("/policy")
def policy_page(
    request: Request, db: DbDep, runtime: RuntimeDep, scope: ScopeDep, organization: OrgDep
) -> Response:
    return _policy_page(
        request,
        db,
        runtime,
        scope,
        organization,
        sms_chosen=organizations.allows_sms(organization),
        chosen=organization.two_factor_policy,
        grace_days=organization.grace_days,
        sign_out=False,
        effect=None,
        **_chosen_keys(organization),
    )


@router.post("/policy")
def policy_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    session: AuthenticatedSession,
    two_factor: Annotated[str, Form()] = "",
    grace_days: Annotated[str, Form()] = "0",
    sign_out_everyone: Annotated[str, Form()] = "",
    methods: Annotated[list[str] | None, Form()] = None,
    passkeys: Annotated[str | None, Form()] = None,
    phishing_resistant: Annotated[str | None, Form()] = None,
    remember_days: Annotated[str | None, Form()] = None,
    confirm: Annotated[str, Form()] = "",
) -> Response:
    # The form sends "totp" (always allowed) and "sms" when its box is ticked; without the
    # field at all, the methods stay as they are (as without `--methods` in the CLI).
    asked = " ".join(item[:8] for item in methods[:4]) if methods is not None else None

    # Without a field (an older form, a script), that setting stays as it is.
    def preview() -> tuple[
        TwoFactorPolicy, int, frozenset[str] | None, KeyChoice, organizations.PolicyEffect
    ]:
        policy = parse_policy(two_factor)
        if not (grace_days.strip().isascii() and grace_days.strip().isdigit()):  # not "²"
            raise InvalidInput("grace_days", words.GRACE_DAYS_WHOLE_NUMBER)
        days = int(grace_days.strip())
        allowed = parse_methods(asked) if asked is not None else None
        keys = KeyChoice(
            passkeys=parse_passkeys(passkeys[:16]) if passkeys is not None else None,
            phishing_resistant=parse_phishing_resistant(phishing_resistant[:8])
            if phishing_resistant is not None
            else None,
            remember_days=parse_remember_days(remember_days[:6])
            if remember_days is not None
            else None,
        )
        effect = organizations.preview_policy(
            db,
            runtime,
            organization,
            two_factor=policy,
            grace_days=days,
            methods=allowed,
            passkeys=keys.passkeys,
            phishing_resistant=keys.phishing_resistant,
            remember_days=keys.remember_days,
        )
        return policy, days, allowed, keys, effect

    chosen_keys = {
        "passkeys_chosen": (passkeys or organization.passkeys)[:16],
        "phishing_resistant_chosen": (phishing_resistant or organization.phishing_resistant)[:8],
        "remember_days": (
            remember_days if remember_days is not None else str(organization.remember_days)
        )[:6],
    }

    sms_chosen = (
        MethodKind.SMS.value in asked.split()
        if asked is not None
        else organizations.allows_sms(organization)
    )
    previewed = submit(runtime, preview)
    if isinstance(previewed, Refused):
        return _policy_page(
            request,
            db,
            runtime,
            scope,
            organization,
            sms_chosen=sms_chosen,
            chosen=two_factor[:16],
            grace_days=grace_days[:6],
            sign_out=bool(sign_out_everyone),
            effect=None,
            field_errors=previewed.field_errors("two_factor"),
            status_code=400,
            **chosen_keys,
        )
    policy, days, allowed, keys, effect = previewed
    if confirm != "yes":
        return _policy_page(
            request,
            db,
            runtime,
            scope,
            organization,
            sms_chosen=sms_chosen,
            chosen=policy.value,
            grace_days=days,
            sign_out=bool(sign_out_everyone),
            effect=effect,
            **chosen_keys,
        )
    organizations.set_policy(
        db,
        runtime,
        organization,
        two_factor=policy,
        grace_days=days,
        sign_out_everyone=bool(sign_out_everyone),
        methods=allowed,
        passkeys=keys.passkeys,
        phishing_resistant=keys.phishing_resistant,
        remember_days=keys.remember_days,
        actor_id=scope.actor_id,
        client=client,
        keep_session_id=session.id,
    )
    return redirect(f"/admin/members?org={organization.slug}&notice=policy")
