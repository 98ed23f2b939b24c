"""/signup: create an account in an organization with open sign-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core.errors import Forbidden
from twofold.core.validation import normalize_email
from twofold.services import signup
from twofold.web.deps import ClientDep, DbDep, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.rendering import redirect, render

router = APIRouter()


@router.get("/signup")
def choose_organization(request: Request, db: DbDep) -> Response:
    organizations = signup.open_organizations(db)
    if len(organizations) == 1:
        return redirect(f"/signup/{organizations[0].slug}")
    return render(request, "signup_choose.html", organizations=organizations)


@router.get("/signup/{slug}")
def signup_page(request: Request, slug: str, db: DbDep) -> Response:
    organization = signup.organization_open_for_signup(db, slug)
    return render(
        request, "signup.html", organization=organization, login="", email="", field_errors={}
    )


@router.post("/signup/{slug}")
def signup_submit(
    request: Request,
    slug: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    login: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    done = submit(
        runtime,
        lambda: signup.sign_up(
            db,
            runtime,
            slug=slug,
            login=login,
            email=email,
            password=password,
            client=client,
        ),
        passing=(Forbidden,),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "signup.html",
            status_code=done.status,
            organization=signup.organization_open_for_signup(db, slug),
            login=login[:64],
            email=email[:254],
            field_errors=done.field_errors("password", {"new_password": "password"}),
        )
    # The same page whether the address was new or already had an account (then its owner
    # was mailed instead): nothing in it depends on which.
    return render(
        request,
        "signup_sent.html",
        organization=signup.organization_open_for_signup(db, slug),
        email=normalize_email(email),
    )
