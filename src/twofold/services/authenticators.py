"""A person's authenticators as a set (decision 0020): list them, add another with the
password and a current second factor, rename one, remove one. Removing the last where 2FA
is required is refused: to move phones, add the new one first, then remove the old one.
The pages, the admin console and the CLI list methods through `users.methods_of`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    EnrollmentNotStarted,
    NotFound,
    TwoFactorNotEnabled,
)
from twofold.core.methods import authenticator_name, ensure_removable, ensure_room_for_another
from twofold.core.policy import blockers_to_disabling
from twofold.core.words import Words
from twofold.notify import messages
from twofold.services import audit
from twofold.services.account import (
    PendingEnrollment,
    confirm_current_password,
    enrollment_view,
    fresh_pending_authenticator,
    new_pending_totp,
    turn_off_two_factor,
)
from twofold.services.notifications import notify
from twofold.services.organizations import membership_views
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import (
    confirm_any_second_factor_for_change,
    consume_totp_step,
)
from twofold.services.transactions import use_case
from twofold.services.users import (
    MethodView,
    confirmed_count,
    mark_credentials_changed,
    methods_of,
    second_factor_count,
    two_factor_is_on,
)
from twofold.store.models import Authenticator, User


@use_case
def begin_adding(
    db: Session,
    runtime: Runtime,
    user: User,
    *,
    name: str,
    password: str,
    code: str,
    client: ClientInfo,
) -> tuple[PendingEnrollment, str]:
    """A new authenticator waiting for its first code, after the password and a current
    second factor (a code from an authenticator the person has, or a recovery code).
    Returns its key (shown to its owner only) and its name."""
    name = authenticator_name(name)
    if confirmed_count(db, user.id) == 0:
        raise TwoFactorNotEnabled()  # the first one is set up on the setup page
    ensure_room_for_another(second_factor_count(db, user.id))  # keys count too (0027)
    confirm_current_password(db, runtime, user, password, client)
    confirm_any_second_factor_for_change(db, runtime, user, code, client)
    pending = new_pending_totp(db, runtime, user, name)
    db.commit()
    return enrollment_view(runtime, user, pending), pending.name


def pending_addition(
    db: Session, runtime: Runtime, user: User
) -> tuple[PendingEnrollment, str] | None:
    """The authenticator being added (its key and QR code, shown to its owner only while
    it waits for its first code) and its name, or None when none is waiting any more."""
    if confirmed_count(db, user.id) == 0:
        return None
    pending = fresh_pending_authenticator(db, runtime, user.id)
    if pending is None:
        return None
    return enrollment_view(runtime, user, pending), pending.name


@use_case
def confirm_adding(
    db: Session, runtime: Runtime, user: User, code: str, client: ClientInfo
) -> MethodView:
    """The first code from the new authenticator turns it on; the person is told by email.
    The recovery codes stay as they are (they belong to the account, not to a phone)."""
    pending = fresh_pending_authenticator(db, runtime, user.id)
    if pending is None or confirmed_count(db, user.id) == 0:
        raise EnrollmentNotStarted()
    ensure_room_for_another(second_factor_count(db, user.id))
    # Someone who holds the new key is not guessing it: a wrong code here is not counted.
    consume_totp_step(db, runtime, pending, user, code)
    pending.confirmed_at = runtime.now()
    record_added(db, runtime, user, pending, client)
    db.commit()
    return MethodView(pending.id, pending.kind, pending.name, pending.created_at, None)


def record_added(
    db: Session, runtime: Runtime, user: User, added: Authenticator, client: ClientInfo
) -> None:
    """Another second factor was confirmed (an app or a phone): audited with its name and
    kind, and the person told by email (in the caller's transaction)."""
    audit.record(
        db,
        runtime.now(),
        AuditEventType.AUTHENTICATOR_ADDED,
        user_id=user.id,
        client=client,
        authenticator_id=added.id,
        name=added.name,
        kind=added.kind,
    )
    notify(
        db,
        runtime,
        user,
        "authenticator_added",
        messages.authenticator_added(user.login, added.name),
    )


def _own_authenticator(db: Session, user: User, authenticator_id: int) -> Authenticator:
    found = db.scalar(
        select(Authenticator).where(
            Authenticator.id == authenticator_id,
            Authenticator.user_id == user.id,
            two_factor_is_on(),
        )
    )
    if found is None:
        raise NotFound(words.NO_SUCH_AUTHENTICATOR)
    return found


@use_case
def rename(
    db: Session, runtime: Runtime, user: User, authenticator_id: int, name: str, client: ClientInfo
) -> None:
    """A new name for one of the person's authenticators (audited; nothing else changes)."""
    name = authenticator_name(name)
    authenticator = _own_authenticator(db, user, authenticator_id)
    if authenticator.name == name:
        return
    before, authenticator.name = authenticator.name, name
    audit.record(
        db,
        runtime.now(),
        AuditEventType.AUTHENTICATOR_RENAMED,
        user_id=user.id,
        client=client,
        authenticator_id=authenticator.id,
        name=name,
        previous_name=before,
    )
    db.commit()


@dataclass(frozen=True)
class Removal:
    """What removing one of the person's methods would do: how many others stay and, where
    none would, what requires 2FA (then it is refused; empty otherwise)."""

    method: MethodView
    others_left: int
    blockers: list[Words]


def removal(db: Session, user: User, authenticator_id: int) -> Removal:
    """The outlook the remove page shows and `remove` enforces (NotFound for a method that
    is not the person's)."""
    methods = methods_of(db, user.id)
    method = next((m for m in methods if m.id == authenticator_id), None)
    if method is None:
        raise NotFound(words.NO_SUCH_AUTHENTICATOR)
    others_left = len(methods) - 1
    blockers = (
        blockers_to_disabling(membership_views(db, user), user.is_superadmin)
        if others_left == 0
        else []
    )
    return Removal(method, others_left, blockers)


@use_case
def remove(
    db: Session,
    runtime: Runtime,
    user: User,
    authenticator_id: int,
    password: str,
    client: ClientInfo,
) -> bool:
    """Remove one authenticator after the password. Where it is the last one, 2FA goes off
    with it (recovery codes too), unless 2FA is required: then LastMethodRequired. Returns
    whether 2FA is still on. The applications the person signed in to must ask again."""
    outlook = removal(db, user, authenticator_id)
    # The reason it must stay comes first: no password is checked (or counted) for nothing.
    ensure_removable(outlook.others_left, outlook.blockers)
    confirm_current_password(db, runtime, user, password, client)
    if outlook.others_left == 0:
        turn_off_two_factor(db, runtime, user, client)
        db.commit()
        return False
    name = outlook.method.name
    db.execute(delete(Authenticator).where(Authenticator.id == authenticator_id))
    now = runtime.now()
    mark_credentials_changed(db, user, now)
    audit.record(
        db,
        now,
        AuditEventType.AUTHENTICATOR_REMOVED,
        user_id=user.id,
        client=client,
        authenticator_id=authenticator_id,
        name=name,
    )
    notify(
        db, runtime, user, "authenticator_removed", messages.authenticator_removed(user.login, name)
    )
    db.commit()
    return True
