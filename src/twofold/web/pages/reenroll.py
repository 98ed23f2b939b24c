"""/reenroll/TOKEN: after an admin reset, the only way to set up 2FA again. It needs both the
emailed link and the person's own sign-in, so neither a stolen password nor the link alone
is enough."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import Forbidden, InvalidToken
from twofold.core.words import Words
from twofold.services import account, links, organizations, reenrollment
from twofold.services.member_actions import REENROLL_PURPOSE
from twofold.store.models import User
from twofold.web.deps import (
    ClientDep,
    DbDep,
    OptionalSession,
    RuntimeDep,
    writes_on_get,
)
from twofold.web.forms import Refused, submit
from twofold.web.pages.account import qr_svg, recovery_codes_page
from twofold.web.rendering import redirect, render, set_session_cookie

router = APIRouter()


def _owner(
    request: Request, db: DbDep, runtime: RuntimeDep, session: OptionalSession, token: str
) -> User | Response:
    row = links.peek(db, runtime, purpose=REENROLL_PURPOSE, token=token)
    if session is None or session.state != "authenticated":
        return redirect(f"/login?next={quote('/reenroll/' + token)}")
    if session.user_id != row.user_id:
        raise Forbidden(words.LINK_FOR_ANOTHER_ACCOUNT)
    user = db.get(User, session.user_id)
    if user is None:
        raise InvalidToken()
    request.state.user = user
    request.state.standing = organizations.standing(db, runtime, user, session)
    return user


def _page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    user: User,
    token: str,
    *,
    error: Words | None = None,
    status: int = 200,
) -> Response:
    pending = account.begin_totp_enrollment(db, runtime, user, via_reset_link=True)
    return render(
        request,
        "setup_totp.html",
        status_code=status,
        error=error,
        enforced=True,
        reenroll=True,
        form_action=f"/reenroll/{token}",
        qr_svg=qr_svg(pending.uri),
        secret_grouped=pending.secret_grouped,
        secret_plain=pending.secret_b32,
        params=pending.params,
    )


@router.get("/reenroll/{token}")
@writes_on_get
def reenroll_page(
    request: Request, token: str, db: DbDep, runtime: RuntimeDep, session: OptionalSession
) -> Response:
    owner = _owner(request, db, runtime, session, token)
    if isinstance(owner, Response):
        return owner
    return _page(request, db, runtime, owner, token)


@router.post("/reenroll/{token}")
def reenroll_submit(
    request: Request,
    token: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
    code: Annotated[str, Form()] = "",
) -> Response:
    owner = _owner(request, db, runtime, session, token)
    if isinstance(owner, Response):
        return owner
    assert session is not None
    if not code.strip():
        return _page(
            request,
            db,
            runtime,
            owner,
            token,
            error=words.ENTER_CODE_YOUR_APP_SHOWS,
            status=400,
        )
    done = submit(
        runtime,
        lambda: reenrollment.complete(db, runtime, owner, session, token, code, client),
        passing=(InvalidToken,),
    )
    if isinstance(done, Refused):
        return _page(request, db, runtime, owner, token, error=done.message, status=done.status)
    codes, new_token = done
    request.state.standing = organizations.standing(db, runtime, owner, session)
    response = recovery_codes_page(request, codes, first_time=True)
    set_session_cookie(request, response, new_token)
    return response
