"""/admin/api-keys: the organization's keys for the verify endpoint (POST /api/v1/verify);
create one, revoke one. A key appears only in the response to the POST that made it: no
redirect carries it and no later page can show it again (the server keeps only its hash)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import Forbidden, NotFound
from twofold.services import api_keys, credential_names
from twofold.services.admin_scope import AdminScope
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import ApiKey, Organization
from twofold.web.deps import ClientDep, DbDep, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.pages.admin.console import NOTICES, OrgDep, ScopeDep, console_page
from twofold.web.rendering import redirect

router = APIRouter(prefix="/admin/api-keys")

FORM_ORDER = ("name", "requests_per_minute")


def whole_number(text: str) -> int:
    """The form's number, or 0 (which the service refuses with its message) if it is none."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else 0


def _key_here(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    organization: Organization,
    key_id: int,
    client: ClientInfo,
) -> ApiKey:
    """The key, if the admin administers its organization (else refused and recorded) and
    it belongs to the organization this page is about."""
    found = api_keys.administered_key(db, runtime, scope, key_id, "revoke_api_key", client)
    if found.organization_id != organization.id:
        raise NotFound(words.NO_SUCH_API_KEY(key_id=key_id))
    return found


def _list_page(
    request: Request,
    db: Session,
    scope: AdminScope,
    organization: Organization,
    **context: object,
) -> Response:
    return console_page(
        request,
        "admin/api_keys.html",
        db,
        scope,
        organization,
        title=words.TITLE_API_KEYS,
        keys=api_keys.list_keys(db, organization.slug),
        **context,
    )


@router.get("")
def api_keys_page(
    request: Request, db: DbDep, scope: ScopeDep, organization: OrgDep, notice: str = ""
) -> Response:
    return _list_page(request, db, scope, organization, notice=NOTICES.get(notice))


def _form(
    request: Request,
    db: Session,
    scope: AdminScope,
    organization: Organization,
    *,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
    name: str = "",
    requests_per_minute: str = str(api_keys.DEFAULT_REQUESTS_PER_MINUTE),
) -> Response:
    errors = field_errors or {}
    return console_page(
        request,
        "admin/api_key_new.html",
        db,
        scope,
        organization,
        field_errors=errors,
        focus=next((f for f in FORM_ORDER if f in errors), "name"),
        status_code=status_code,
        name=name,
        requests_per_minute=requests_per_minute,
        max_per_minute=api_keys.MAX_REQUESTS_PER_MINUTE,
        name_max=credential_names.NAME_MAX,
    )


@router.get("/new")
def new_api_key_page(
    request: Request, db: DbDep, scope: ScopeDep, organization: OrgDep
) -> Response:
    return _form(request, db, scope, organization)


@router.post("/new")
def new_api_key_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    name: Annotated[str, Form()] = "",
    requests_per_minute: Annotated[str, Form()] = str(api_keys.DEFAULT_REQUESTS_PER_MINUTE),
) -> Response:
    created = submit(
        runtime,
        lambda: api_keys.create_key(
            db,
            runtime,
            organization.slug,
            name=name,
            requests_per_minute=whole_number(requests_per_minute),
            actor=scope,
            client=client,
        ),
        passing=(Forbidden, NotFound),
    )
    if isinstance(created, Refused):
        return _form(
            request,
            db,
            scope,
            organization,
            field_errors=created.field_errors("name"),
            status_code=created.status,
            name=name[: credential_names.NAME_MAX],
            requests_per_minute=requests_per_minute[:12],
        )
    # Shown here, in the answer to this POST, and nowhere else ever again.
    return console_page(
        request,
        "admin/api_key_shown.html",
        db,
        scope,
        organization,
        key=created.key,
        secret=created.secret,
        shown_once=words.API_KEY_SHOWN_ONCE,
        endpoint=f"{runtime.public_url()}/api/v1/verify",
    )


@router.get("/{key_id}/revoke")
def revoke_page(
    request: Request,
    key_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    key = _key_here(db, runtime, scope, organization, key_id, client)
    return console_page(
        request,
        "admin/api_key_revoke.html",
        db,
        scope,
        organization,
        key=key,
        refused=api_keys.revoke_refusal(key),
    )


@router.post("/{key_id}/revoke")
def revoke_submit(
    request: Request,
    key_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    key = _key_here(db, runtime, scope, organization, key_id, client)
    done = submit(
        runtime,
        lambda: api_keys.revoke_key(db, runtime, key.id, scope, client=client),
        passing=(Forbidden, NotFound),
    )
    if isinstance(done, Refused):
        return _list_page(request, db, scope, organization, error=done.message, status_code=400)
    return redirect(f"/admin/api-keys?org={organization.slug}&notice=api_key_revoked")
