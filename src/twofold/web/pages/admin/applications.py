"""/admin/applications: the organization's OpenID Connect clients; register one, revoke one,
replace a secret. A secret appears only in the response to the POST that made it: no
redirect carries it and no later page can show it again (the server keeps only its hash)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import Forbidden, NotFound
from twofold.services import oidc_clients, signing_keys
from twofold.services.admin_scope import AdminScope
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import OidcClient, Organization
from twofold.web.deps import ClientDep, DbDep, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.pages.admin.console import NOTICES, OrgDep, ScopeDep, console_page
from twofold.web.rendering import redirect

router = APIRouter(prefix="/admin/applications")

# The service's field names -> the form's.
FORM_FIELDS = {
    "redirect_uri": "redirect_uris",
    "post_logout_redirect_uri": "post_logout_redirect_uris",
}
FORM_ORDER = ("name", "redirect_uris", "post_logout_redirect_uris", "id_token_alg")


def lines(text: str) -> list[str]:
    """A textarea's non-empty lines, stripped: one URI per line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _client_here(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    organization: Organization,
    client_id: str,
    action: str,
    client: ClientInfo,
) -> OidcClient:
    """The client, if the admin administers its organization (else refused and recorded)
    and it belongs to the organization this page is about."""
    found = oidc_clients.administered_client(db, runtime, scope, client_id, action, client)
    if found.organization_id != organization.id:
        raise NotFound(words.NO_SUCH_CLIENT(client_id=client_id[:64]))
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
        "admin/applications.html",
        db,
        scope,
        organization,
        applications=oidc_clients.list_clients(db, organization.slug),
        redirect_uris_of=oidc_clients.redirect_uris_of,
        **context,
    )


@router.get("")
def applications_page(
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
    **values: object,
) -> Response:
    errors = field_errors or {}
    defaults: dict[str, object] = {
        "name": "",
        "redirect_uris": "",
        "post_logout_redirect_uris": "",
        "public": False,
        "require_2fa": False,
        "id_token_alg": signing_keys.RS256,
    }
    return console_page(
        request,
        "admin/application_new.html",
        db,
        scope,
        organization,
        field_errors=errors,
        focus=next((f for f in FORM_ORDER if f in errors), "name"),
        status_code=status_code,
        **{**defaults, **values},
    )


@router.get("/new")
def new_application_page(
    request: Request, db: DbDep, scope: ScopeDep, organization: OrgDep
) -> Response:
    return _form(request, db, scope, organization)


@router.post("/new")
def new_application_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    name: Annotated[str, Form()] = "",
    redirect_uris: Annotated[str, Form()] = "",
    post_logout_redirect_uris: Annotated[str, Form()] = "",
    client_type: Annotated[str, Form()] = "confidential",
    require_2fa: Annotated[str, Form()] = "",
    id_token_alg: Annotated[str, Form()] = signing_keys.RS256,
) -> Response:
    public = client_type == "public"
    created = submit(
        runtime,
        lambda: oidc_clients.create_client(
            db,
            runtime,
            organization.slug,
            name=name,
            redirect_uris=lines(redirect_uris),
            post_logout_redirect_uris=lines(post_logout_redirect_uris),
            public=public,
            require_two_factor=bool(require_2fa),
            id_token_alg=id_token_alg,
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
            field_errors=created.field_errors("name", FORM_FIELDS),
            status_code=created.status,
            name=name[:200],
            redirect_uris=redirect_uris[:20_000],
            post_logout_redirect_uris=post_logout_redirect_uris[:20_000],
            public=public,
            require_2fa=bool(require_2fa),
            id_token_alg=id_token_alg[:8],
        )
    # Shown here, in the answer to this POST, and nowhere else ever again.
    return console_page(
        request,
        "admin/application_secret.html",
        db,
        scope,
        organization,
        application=created.client,
        secret=created.secret,
        rotated=False,
        issuer=runtime.public_url(),
    )


@router.get("/{client_id}/revoke")
def revoke_page(
    request: Request,
    client_id: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    application = _client_here(db, runtime, scope, organization, client_id, "revoke_client", client)
    return console_page(
        request,
        "admin/application_revoke.html",
        db,
        scope,
        organization,
        application=application,
        refused=oidc_clients.revoke_refusal(application),
    )


@router.post("/{client_id}/revoke")
def revoke_submit(
    request: Request,
    client_id: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    application = _client_here(db, runtime, scope, organization, client_id, "revoke_client", client)
    done = submit(
        runtime,
        lambda: oidc_clients.revoke_client(
            db, runtime, application.client_id, scope, client=client
        ),
        passing=(Forbidden, NotFound),
    )
    if isinstance(done, Refused):
        return _list_page(request, db, scope, organization, error=done.message, status_code=400)
    return redirect(f"/admin/applications?org={organization.slug}&notice=client_revoked")


@router.get("/{client_id}/rotate")
def rotate_page(
    request: Request,
    client_id: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    application = _client_here(
        db, runtime, scope, organization, client_id, "rotate_client_secret", client
    )
    return console_page(
        request,
        "admin/application_rotate.html",
        db,
        scope,
        organization,
        application=application,
        refused=oidc_clients.rotate_refusal(application),
    )


@router.post("/{client_id}/rotate")
def rotate_submit(
    request: Request,
    client_id: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    application = _client_here(
        db, runtime, scope, organization, client_id, "rotate_client_secret", client
    )
    secret = submit(
        runtime,
        lambda: oidc_clients.rotate_secret(
            db, runtime, application.client_id, scope, client=client
        ),
        passing=(Forbidden, NotFound),
    )
    if isinstance(secret, Refused):
        return _list_page(request, db, scope, organization, error=secret.message, status_code=400)
    return console_page(
        request,
        "admin/application_secret.html",
        db,
        scope,
        organization,
        application=application,
        secret=secret,
        rotated=True,
        issuer=runtime.public_url(),
    )
