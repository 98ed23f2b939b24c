"""Appending to the audit log, inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.services.runtime import ClientInfo
from twofold.store.models import AuditEvent

_USER_AGENT_MAX = 300


def record(
    db: Session,
    now: datetime,
    event: AuditEventType,
    *,
    user_id: int | None = None,
    actor_id: int | None = None,
    organization_id: int | None = None,
    client: ClientInfo | None = None,
    **detail: str | int | bool | None,
) -> None:
    """Add one event; `detail` must never hold a secret, code, password or token."""
    client = client or ClientInfo()
    db.add(
        AuditEvent(
            occurred_at=now,
            event=event.value,
            user_id=user_id,
            actor_id=actor_id,
            organization_id=organization_id,
            ip=client.ip,
            user_agent=(client.user_agent or "")[:_USER_AGENT_MAX] or None,
            detail=json.dumps(detail, sort_keys=True),
        )
    )
