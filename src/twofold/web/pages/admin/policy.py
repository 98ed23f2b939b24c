"""/admin/policy: preview and apply an organization's 2FA policy and allowed methods."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import MethodKind, TwoFactorPolicy, parse_methods, parse_policy
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
        **context,
    )


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
    confirm: Annotated[str, Form()] = "",
) -> Response:
    # The form sends "totp" (always allowed) and "sms" when its box is ticked; without the
    # field at all, the methods stay as they are (as without `--methods` in the CLI).
    asked = " ".join(item[:8] for item in methods[:4]) if methods is not None else None

    def preview() -> tuple[TwoFactorPolicy, int, frozenset[str] | None, organizations.PolicyEffect]:
        policy = parse_policy(two_factor)
        if not grace_days.strip().isdigit():
            raise InvalidInput("grace_days", words.GRACE_DAYS_WHOLE_NUMBER)
        days = int(grace_days.strip())
        allowed = parse_methods(asked) if asked is not None else None
        effect = organizations.preview_policy(
            db, runtime, organization, two_factor=policy, grace_days=days, methods=allowed
        )
        return policy, days, allowed, effect

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
        )
    policy, days, allowed, effect = previewed
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
        )
    organizations.set_policy(
        db,
        runtime,
        organization,
        two_factor=policy,
        grace_days=days,
        sign_out_everyone=bool(sign_out_everyone),
        methods=allowed,
        actor_id=scope.actor_id,
        client=client,
        keep_session_id=session.id,
    )
    return redirect(f"/admin/members?org={organization.slug}&notice=policy")
