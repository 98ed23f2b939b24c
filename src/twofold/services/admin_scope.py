"""Who may administer what: an admin's scope, THE rule of who may act on whom, and the
recorded refusal. Used by the admin console, the CLI (as the operator) and every later API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import Forbidden
from twofold.core.policy import Role
from twofold.core.words import Msg, Text, Words
from twofold.services import audit
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import (
    Membership,
    Organization,
    User,
)


@dataclass(frozen=True)
class AdminScope:
    """What one admin may administer: every organization (super-admin) or some."""

    admin: User | None  # None: the operator, through the CLI
    superadmin: bool
    organization_ids: frozenset[int]

    @property
    def actor_id(self) -> int | None:
        return self.admin.id if self.admin is not None else None

    def administers(self, organization_id: int) -> bool:
        return self.superadmin or organization_id in self.organization_ids


OPERATOR = AdminScope(admin=None, superadmin=True, organization_ids=frozenset())


def acted_by(actor: AdminScope) -> Words:
    """Who did it, in the admins' email: a console admin or the operator's CLI."""
    if actor.admin is None:
        return words.BY_OPERATOR
    return words.BY_ADMINISTRATOR(login=actor.admin.login)


def scope_of(db: Session, user: User) -> AdminScope | None:
    ids = frozenset(
        db.scalars(
            select(Membership.organization_id).where(
                Membership.user_id == user.id, Membership.role == Role.ADMIN.value
            )
        )
    )
    if not user.is_superadmin and not ids:
        return None
    return AdminScope(admin=user, superadmin=user.is_superadmin, organization_ids=ids)


def administered_organizations(db: Session, scope: AdminScope) -> list[Organization]:
    query = select(Organization).order_by(Organization.name)
    if not scope.superadmin:
        query = query.where(Organization.id.in_(scope.organization_ids))
    return list(db.scalars(query))


def ensure_administers(
    db: Session,
    runtime: Runtime,
    actor: AdminScope,
    organization_id: int,
    action: str,
    client: ClientInfo | None,
) -> None:
    """Refuse (recorded, committed, Forbidden) unless `actor` administers the organization."""
    if not actor.administers(organization_id):
        refuse(
            db,
            runtime,
            actor,
            action,
            target_id=None,
            client=client,
            message=words.NOT_YOUR_ADMINISTERED_ORGANIZATION,
        )


def administered_organization(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    slug: str,
    administered: list[Organization],
    client: ClientInfo | None,
) -> Organization:
    """The organization `slug` among those `scope` administers (`administered`, as
    administered_organizations gave them); any other is refused and the refusal recorded,
    whether it exists or not (the console's ?org= and the API's path alike)."""
    chosen = next((o for o in administered if o.slug == slug[:64]), None)
    if chosen is None:
        refuse(
            db,
            runtime,
            scope,
            "open_organization",
            target_id=None,
            client=client,
            message=words.NOT_YOUR_ADMINISTERED_ORGANIZATION,
        )
    return chosen


def refuse(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    action: str,
    *,
    target_id: int | None,
    client: ClientInfo | None,
    message: Words,
) -> NoReturn:
    """Refuse an admin action: record the refusal (a security matter), commit it, and raise
    Forbidden with `message`."""
    audit.record(
        db,
        runtime.now(),
        AuditEventType.ADMIN_ACTION_REFUSED,
        user_id=target_id,
        actor_id=scope.actor_id,
        client=client,
        action=action,
    )
    db.commit()
    raise Forbidden(message)


def refusal(db: Session, scope: AdminScope, target: User) -> Text | Msg | None:
    """THE scope rule — who may act on whom — for pages, CLI and every later API: None if
    `scope` may reset, unlock or remove `target`, else why not, in words for the admin.

    An organization admin may act only on plain members whose memberships all lie in
    organizations they administer. Administrators (of any organization) and super-admins
    need a super-admin; nobody acts on themselves."""
    if target.id == scope.actor_id:
        # not on oneself: that would be a way around one's own second factor
        return words.NOT_ON_YOUR_OWN_ACCOUNT
    if scope.superadmin:
        return None
    if target.is_superadmin:
        return words.ONLY_SUPERADMIN_FOR_SUPERADMIN
    memberships = db.execute(
        select(Membership.organization_id, Membership.role).where(Membership.user_id == target.id)
    ).all()
    target_orgs = {organization_id for organization_id, _role in memberships}
    if not target_orgs or not target_orgs <= scope.organization_ids:
        return words.MEMBER_OF_OTHER_ORGANIZATION
    if any(role == Role.ADMIN.value for _org, role in memberships):
        return words.MEMBER_IS_ADMINISTRATOR
    return None


def may_manage(db: Session, scope: AdminScope, target: User) -> bool:
    return refusal(db, scope, target) is None


def require_manageable(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    action: str,
    client: ClientInfo | None,
) -> None:
    """Refuse (recorded in the audit log, nothing else changed) unless `refusal` allows."""
    why_not = refusal(db, scope, target)
    if why_not is not None:
        refuse(db, runtime, scope, action, target_id=target.id, client=client, message=why_not)


def managed_member(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    member_id: int,
    action: str,
    client: ClientInfo | None,
) -> User:
    target = db.get(User, member_id)
    if target is None:
        refuse(
            db,
            runtime,
            scope,
            action,
            target_id=None,
            client=client,
            message=words.NO_SUCH_MEMBER,
        )
    require_manageable(db, runtime, scope, target, action, client)
    return target
