"""/admin/policy: preview and apply an organization's 2FA policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import TwoFactorPolicy, parse_policy
from twofold.services import organizations
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


@router.get("/policy")
def policy_page(
    request: Request, db: DbDep, runtime: RuntimeDep, scope: ScopeDep, organization: OrgDep
) -> Response:
    return console_page(
        request,
        "admin/policy.html",
        db,
        scope,
        organization,
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
    confirm: Annotated[str, Form()] = "",
) -> Response:
    def preview() -> tuple[TwoFactorPolicy, int, organizations.PolicyEffect]:
        policy = parse_policy(two_factor)
        if not grace_days.strip().isdigit():
            raise InvalidInput("grace_days", words.GRACE_DAYS_WHOLE_NUMBER)
        days = int(grace_days.strip())
        effect = organizations.preview_policy(
            db, runtime, organization, two_factor=policy, grace_days=days
        )
        return policy, days, effect

    previewed = submit(runtime, preview)
    if isinstance(previewed, Refused):
        return console_page(
            request,
            "admin/policy.html",
            db,
            scope,
            organization,
            chosen=two_factor[:16],
            grace_days=grace_days[:6],
            sign_out=bool(sign_out_everyone),
            effect=None,
            error=previewed.message,
            status_code=400,
        )
    policy, days, effect = previewed
    if confirm != "yes":
        return console_page(
            request,
            "admin/policy.html",
            db,
            scope,
            organization,
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
        actor_id=scope.actor_id,
        client=client,
        keep_session_id=session.id,
    )
    return redirect(f"/admin/members?org={organization.slug}&notice=policy")
