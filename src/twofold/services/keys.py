"""Key rotation without downtime: add, promote, reseal, retire, list (docs/decisions/0008).

Every sealed value in the database is listed once, in SEALED_COLUMNS: counting, re-sealing
and the refusal to retire a key that still seals something all read that one registry, so a
sealed column added later is rotated too (tests fail on a `*_sealed` column not listed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import ConfigurationError, InvalidInput, NotFound, TwofoldError
from twofold.crypto.key_file import rewrite_key_file
from twofold.crypto.keyring import KeyRing, KeyRingError, SealError
from twofold.services import audit
from twofold.services.key_state import SETTLE_SECONDS
from twofold.services.mail import content_context
from twofold.services.runtime import Runtime, key_file_of
from twofold.services.signing_keys import private_key_context
from twofold.services.sms_codes import phone_context
from twofold.services.totp_secrets import secret_context
from twofold.store.db import rows_affected
from twofold.store.models import (
    Authenticator,
    Base,
    KeyFingerprint,
    KeyPrimary,
    OidcSigningKey,
    OutgoingEmail,
    RecoveryCode,
)

_KID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_NUMBERED_KID = re.compile(r"k(\d{1,6})")


class KeyStateRefused(TwofoldError):
    """A key command that would lose data or break running servers; nothing was changed."""

    code = "key_state_refused"


@dataclass(frozen=True)
class SealedColumn:
    """One column of sealed values: where the key id and ciphertext live, and the context
    (associated data) each was sealed with, computed from its row."""

    label: str
    model: type[Base]
    kid: InstrumentedAttribute[Any]
    sealed: InstrumentedAttribute[Any]
    context: Callable[[Any], bytes]


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "TOTP secrets",  # and phone numbers (kind "sms"), sealed in the same column
        Authenticator,
        Authenticator.secret_kid,
        Authenticator.secret_sealed,
        lambda row: (
            phone_context(row.user_id) if row.kind == "sms" else secret_context(row.user_id)
        ),
    ),
    SealedColumn(
        "queued emails",
        OutgoingEmail,
        OutgoingEmail.content_kid,
        OutgoingEmail.content_sealed,
        lambda row: content_context(row.recipient),
    ),
    SealedColumn(
        "signing keys",
        OidcSigningKey,
        OidcSigningKey.private_kid,
        OidcSigningKey.private_sealed,
        lambda row: private_key_context(row.kid),
    ),
)
RECOVERY_CODES_LABEL = "recovery codes"


@dataclass
class KeyInfo:
    kid: str
    state: str  # primary | decrypt-only | retired | unknown
    in_this_process: bool
    fingerprint: str | None
    sealed: dict[str, int] = field(default_factory=dict)  # label -> count
    recovery_codes: int = 0  # unused ones, keyed with this kid

    @property
    def total_sealed(self) -> int:
        return sum(self.sealed.values())


@dataclass
class KeyListing:
    keys: list[KeyInfo]
    primary_kid: str | None
    promoted_at: datetime | None
    key_file: Path | None


def sealed_counts(db: Session) -> dict[str, dict[str, int]]:
    """kid -> column label -> number of values sealed with it."""
    counts: dict[str, dict[str, int]] = {}
    for column in SEALED_COLUMNS:
        query = select(column.kid, func.count()).where(column.kid.is_not(None)).group_by(column.kid)
        for kid, count in db.execute(query):
            counts.setdefault(kid, {})[column.label] = int(count)
    return counts


def recovery_code_counts(db: Session) -> dict[str, int]:
    """kid -> unused recovery codes keyed with it (digests cannot be re-keyed; see retire)."""
    query = (
        select(RecoveryCode.key_id, func.count())
        .where(RecoveryCode.used_at.is_(None))
        .group_by(RecoveryCode.key_id)
    )
    return {kid: int(count) for kid, count in db.execute(query)}


def list_keys(runtime: Runtime) -> KeyListing:
    """Key ids, their state and what each seals; never key material."""
    configured = runtime.keys.configured
    with runtime.db() as db:
        fingerprints = {row.kid: row for row in db.scalars(select(KeyFingerprint))}
        primary = db.get(KeyPrimary, 1)
        counts = sealed_counts(db)
        codes = recovery_code_counts(db)
        db.commit()
    kids = list(fingerprints)
    kids += [kid for kid in configured.keys if kid not in fingerprints]
    kids += sorted(kid for kid in {*counts, *codes} if kid not in kids)
    listing = []
    for kid in kids:
        row = fingerprints.get(kid)
        if primary is not None and primary.kid == kid:
            state = "primary"
        elif row is not None and row.retired_at is not None:
            state = "retired"
        elif row is None and kid not in configured.keys:
            state = "unknown"
        else:
            state = "decrypt-only"
        listing.append(
            KeyInfo(
                kid=kid,
                state=state,
                in_this_process=kid in configured.keys,
                fingerprint=row.fingerprint if row else None,
                sealed={c.label: counts.get(kid, {}).get(c.label, 0) for c in SEALED_COLUMNS},
                recovery_codes=codes.get(kid, 0),
            )
        )
    return KeyListing(
        keys=listing,
        primary_kid=primary.kid if primary else None,
        promoted_at=primary.promoted_at if primary else None,
        key_file=key_file_of(runtime.settings),
    )


@dataclass(frozen=True)
class AddedKey:
    kid: str
    key_file: Path | None  # written there; None: keys come from TWOFOLD_SECRET_KEYS
    entry: str | None  # 'kid:KEY' to add to TWOFOLD_SECRET_KEYS (only when key_file is None)


def _validate_kid(kid: str) -> str:
    if not _KID_RE.fullmatch(kid):
        raise InvalidInput("kid", words.KID_SHAPE)
    return kid


def _next_kid(used: set[str]) -> str:
    numbers = [int(m.group(1)) for kid in used if (m := _NUMBERED_KID.fullmatch(kid))]
    return f"k{max(numbers, default=1) + 1}"


def add_key(runtime: Runtime, kid: str | None = None) -> AddedKey:
    """A new key, decrypt-only: nothing is sealed with it until `promote`.

    With the key file (the embedded default) it is appended to the file, which every server
    sharing it re-reads; with TWOFOLD_SECRET_KEYS the new entry is returned for the operator
    to add to every server's environment (a rolling restart), as nothing here can change it.
    """
    configured = runtime.keys.configured
    with runtime.db() as db:
        recorded = set(db.scalars(select(KeyFingerprint.kid)))
        db.commit()
    used = recorded | set(configured.keys)
    kid = _validate_kid(kid) if kid is not None else _next_kid(used)
    if kid in used:
        raise KeyStateRefused(words.KID_IN_USE(kid=kid))
    new = KeyRing.generate(kid)
    key_file = key_file_of(runtime.settings)
    if key_file is None:
        return AddedKey(kid=kid, key_file=None, entry=new.to_text().strip())
    # The file first: a fingerprint recorded for a key no file holds would stop every start.
    try:
        rewrite_key_file(
            key_file,
            KeyRing(keys={**configured.keys, **new.keys}, primary_kid=configured.primary_kid),
        )
    except KeyRingError as exc:
        raise ConfigurationError(exc.message) from exc
    with runtime.db() as db:
        now = runtime.now()
        db.add(KeyFingerprint(kid=kid, fingerprint=new.fingerprints()[kid], created_at=now))
        audit.record(db, now, AuditEventType.KEY_ADDED, kid=kid)
        db.commit()
    runtime.keys.refresh()
    return AddedKey(kid=kid, key_file=key_file, entry=None)


def _locked_primary(db: Session) -> KeyPrimary:
    """The primary row, locked: promote and retire serialise on it (SQLite: BEGIN IMMEDIATE
    already serialises writers; PostgreSQL: FOR UPDATE)."""
    row = db.get(KeyPrimary, 1, with_for_update=True, populate_existing=True)
    if row is None:  # every server start records one; only a damaged database lacks it
        raise ConfigurationError(words.NO_PRIMARY_KEY_RECORDED)
    return row


def _fingerprint_row(db: Session, kid: str) -> KeyFingerprint:
    row = db.get(KeyFingerprint, kid)
    if row is None:
        known = sorted(set(db.scalars(select(KeyFingerprint.kid))))
        raise NotFound(words.UNKNOWN_KID(kid=kid, known=", ".join(known) or words.NO_KIDS))
    return row


@dataclass(frozen=True)
class Promoted:
    kid: str
    previous: str
    changed: bool


def promote(runtime: Runtime, kid: str) -> Promoted:
    """Make kid the key new values are sealed with, on every server within REFRESH_SECONDS."""
    with runtime.db() as db:
        primary = _locked_primary(db)
        row = _fingerprint_row(db, kid)
        if row.retired_at is not None:
            raise KeyStateRefused(words.KEY_RETIRED_CANNOT_SEAL(kid=kid))
        if not runtime.keys.configured.keys.get(kid):
            raise KeyStateRefused(words.KEY_NOT_IN_THIS_PROCESS(kid=kid))
        previous = primary.kid
        if previous == kid:
            db.rollback()
            return Promoted(kid=kid, previous=previous, changed=False)
        now = runtime.now()
        primary.kid = kid
        primary.promoted_at = now
        audit.record(db, now, AuditEventType.KEY_PROMOTED, kid=kid, previous=previous)
        db.commit()
    runtime.keys.refresh()
    return Promoted(kid=kid, previous=previous, changed=True)


@dataclass
class ResealBatch:
    column: str
    resealed: int
    skipped: int  # changed meanwhile by a server (it re-sealed the value itself)
    failed: int  # did not open: named by id in failed_ids
    failed_ids: list[int] = field(default_factory=list)


def count_to_reseal(runtime: Runtime) -> int:
    """Sealed values not yet under the primary key."""
    primary = runtime.keys.primary_kid
    with runtime.db() as db:
        total = 0
        for column in SEALED_COLUMNS:
            total += int(
                db.scalar(
                    select(func.count()).where(column.kid.is_not(None), column.kid != primary)
                )
                or 0
            )
        db.commit()
    return total


def reseal(runtime: Runtime, *, batch_size: int = 200) -> Iterator[ResealBatch]:
    """Re-seal every sealed value that is not under the primary key, batch by batch.

    Each batch is its own short transaction, so the command can be interrupted and run again.
    A row is only updated if it still holds the very ciphertext that was opened, so a server
    writing the same row meanwhile wins and nothing it wrote is overwritten.
    """
    if batch_size < 1:
        raise InvalidInput("batch_size", words.BATCH_SIZE_TOO_SMALL)
    for column in SEALED_COLUMNS:
        model: Any = column.model
        after = 0
        while True:
            primary = runtime.keys.primary_kid
            report = ResealBatch(column=column.label, resealed=0, skipped=0, failed=0)
            with runtime.db() as db:
                rows = list(
                    db.scalars(
                        select(model)
                        .where(column.kid.is_not(None), column.kid != primary, model.id > after)
                        .order_by(model.id)
                        .limit(batch_size)
                    )
                )
                if not rows:
                    db.commit()
                    break
                for row in rows:
                    after = row.id
                    old_kid = getattr(row, column.kid.key)
                    old_sealed = getattr(row, column.sealed.key)
                    context = column.context(row)
                    try:
                        plaintext = runtime.keys.open(old_kid, old_sealed, context=context)
                    except (SealError, KeyRingError):
                        report.failed += 1
                        report.failed_ids.append(row.id)
                        continue
                    new_kid, new_sealed = runtime.keys.seal(plaintext, context=context)
                    changed = rows_affected(
                        db,
                        update(model)
                        .where(
                            model.id == row.id, column.kid == old_kid, column.sealed == old_sealed
                        )
                        .values({column.kid.key: new_kid, column.sealed.key: new_sealed})
                        .execution_options(synchronize_session=False),
                    )
                    if changed:
                        report.resealed += 1
                    else:
                        report.skipped += 1
                db.commit()
            yield report


@dataclass(frozen=True)
class Retired:
    kid: str
    discarded_recovery_codes: int
    key_file: Path | None  # the key was removed from it; None: remove it from the env


def retire(runtime: Runtime, kid: str, *, discard_recovery_codes: bool = False) -> Retired:
    """Mark kid retired: no server uses it any more and it may leave every key ring.

    Refused while it is the primary, while the last promotion may not have reached every
    server yet, and while any value is still sealed with it (with the counts). Unused
    recovery codes keyed with it cannot be re-keyed (only digests are stored), so they block
    too unless discarded explicitly.
    """
    discarded = 0
    with runtime.db() as db:
        primary = _locked_primary(db)
        row = _fingerprint_row(db, kid)
        if row.retired_at is not None:
            raise KeyStateRefused(words.KEY_ALREADY_RETIRED(kid=kid))
        if primary.kid == kid:
            raise KeyStateRefused(words.KEY_IS_PRIMARY(kid=kid))
        now = runtime.now()
        settled = primary.promoted_at + timedelta(seconds=SETTLE_SECONDS)
        if now < settled:
            wait = int((settled - now).total_seconds()) + 1
            raise KeyStateRefused(
                words.KEY_PROMOTED_RECENTLY(
                    primary=primary.kid, settle=SETTLE_SECONDS, kid=kid, wait=wait
                )
            )
        counts = sealed_counts(db).get(kid, {})
        if any(counts.values()):
            what = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
            raise KeyStateRefused(words.KEY_STILL_SEALS(kid=kid, what=what))
        codes = recovery_code_counts(db).get(kid, 0)
        if codes and not discard_recovery_codes:
            people = db.scalar(
                select(func.count(func.distinct(RecoveryCode.user_id))).where(
                    RecoveryCode.key_id == kid, RecoveryCode.used_at.is_(None)
                )
            )
            raise KeyStateRefused(
                words.KEY_HAS_RECOVERY_CODES(codes=codes, people=people or 0, kid=kid)
            )
        if codes:
            owners = sorted(
                set(
                    db.scalars(
                        select(RecoveryCode.user_id).where(
                            RecoveryCode.key_id == kid, RecoveryCode.used_at.is_(None)
                        )
                    )
                )
            )
            db.execute(
                delete(RecoveryCode).where(
                    RecoveryCode.key_id == kid, RecoveryCode.used_at.is_(None)
                )
            )
            for user_id in owners:
                audit.record(
                    db, now, AuditEventType.RECOVERY_CODES_DISCARDED, user_id=user_id, kid=kid
                )
            discarded = codes
        row.retired_at = now
        audit.record(
            db, now, AuditEventType.KEY_RETIRED, kid=kid, discarded_recovery_codes=discarded
        )
        db.commit()
    runtime.keys.refresh()
    key_file = key_file_of(runtime.settings)
    if key_file is not None:
        configured = runtime.keys.configured
        if kid in configured.keys:
            remaining = {k: v for k, v in configured.keys.items() if k != kid}
            try:
                rewrite_key_file(
                    key_file, KeyRing(keys=remaining, primary_kid=runtime.keys.primary_kid)
                )
            except KeyRingError as exc:
                raise ConfigurationError(
                    words.KEY_FILE_REWRITE_FAILED(kid=kid, problem=exc.message)
                ) from exc
            runtime.keys.refresh()
    return Retired(kid=kid, discarded_recovery_codes=discarded, key_file=key_file)
