"""The key ring a running server uses, following key rotation without a restart.

The configured keys (TWOFOLD_SECRET_KEYS, or the key file of the embedded default) say which
keys a server *has*; the database says which one seals new values (`key_primary`) and which
are retired (`key_fingerprints.retired_at`). A server re-reads that state, and re-reads the
key file if it changed, at most every REFRESH_SECONDS, on the next use of its keys. So
`twofold keys promote` and `keys retire` reach every server within REFRESH_SECONDS, and
`keys add` reaches every server sharing the key file as well. See docs/decisions/0008.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import KeysMismatch
from twofold.crypto.key_file import read_key_file
from twofold.crypto.keyring import KeyRing, KeyRingError
from twofold.otp.clock import Clock
from twofold.store.db import insert_unless_present
from twofold.store.models import KeyFingerprint, KeyPrimary

log = logging.getLogger("twofold.keys")

# How long a running server may keep sealing with a key after another was promoted.
REFRESH_SECONDS = 10
# Commands that must be sure every server follows a promotion wait this long after it.
SETTLE_SECONDS = 2 * REFRESH_SECONDS + 5

# Plain SQL on a pooled DBAPI connection: no ORM session and no BEGIN, so the read takes no
# lock (SQLite's BEGIN IMMEDIATE would wait for the caller's own open write transaction).
_READ_PRIMARY = "SELECT kid FROM key_primary WHERE id = 1"
_READ_RETIRED = "SELECT kid FROM key_fingerprints WHERE retired_at IS NOT NULL"


@dataclass(frozen=True)
class RecordedState:
    primary_kid: str | None
    retired: frozenset[str]


def read_recorded_state(engine: Engine) -> RecordedState:
    """The primary and retired key ids as the database records them right now.

    Read on a connection of its own, outside the engine's pool: the state is re-read in the
    middle of a request that may already hold a pooled connection and a row lock (a code
    check holds the person's row). Under a burst that has used up the pool, waiting for a
    second pooled connection would hold that lock for the whole pool timeout, and every
    request queued on the lock would wait with it."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    connection = engine.dialect.connect(*cargs, **cparams)
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(_READ_PRIMARY)
            row = cursor.fetchone()
            cursor.execute(_READ_RETIRED)
            retired = frozenset(str(kid) for (kid,) in cursor.fetchall())
        finally:
            cursor.close()
        connection.rollback()
    finally:
        connection.close()
    return RecordedState(primary_kid=str(row[0]) if row else None, retired=retired)


def record_primary_if_missing(
    db: Session, keys: KeyRing, now: datetime, recorded: str | None
) -> str:
    """At start-up: a database without a recorded primary (`recorded`, as
    check_recorded_primary read it) adopts this ring's first key, so from then on the order
    of keys in TWOFOLD_SECRET_KEYS no longer decides what seals. Another server starting at
    the same moment may record one first: then theirs stays. Returns the recorded primary's
    key id."""
    if recorded is not None:
        return recorded
    values = {"id": 1, "kid": keys.primary_kid, "promoted_at": now}
    if insert_unless_present(db, KeyPrimary, values):
        return keys.primary_kid
    return str(db.scalar(select(KeyPrimary.kid).where(KeyPrimary.id == 1)))


def check_recorded_primary(db: Session, keys: KeyRing) -> str | None:
    """Refuse to start a server that lacks the key the database says seals new values.
    Returns that key's id, or None when none is recorded yet."""
    recorded = db.get(KeyPrimary, 1)
    if recorded is not None and recorded.kid not in keys.keys:
        raise KeysMismatch(missing_primary_message(recorded.kid))
    return recorded.kid if recorded is not None else None


def missing_primary_message(kid: str) -> words.Text:
    return words.MISSING_PRIMARY_KEY(kid=kid)


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class LiveKeyRing:
    """A KeyRing that follows the recorded key state. Opening uses every configured key that
    is not retired; sealing uses the recorded primary, and is refused if this server lacks it.
    Safe to share between threads."""

    def __init__(
        self,
        configured: KeyRing,
        *,
        engine: Engine,
        clock: Clock,
        key_file: Path | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._configured = configured
        self._engine = engine
        self._clock = clock
        self._key_file = key_file
        self._file_signature = _file_signature(key_file) if key_file else None
        self._interval = timedelta(seconds=refresh_seconds)
        self._lock = threading.Lock()
        self._ring = configured
        self._missing_primary: str | None = None
        self._refreshed_at: datetime | None = None

    def __repr__(self) -> str:
        return f"LiveKeyRing({self._ring!r})"

    # -- following the recorded state ------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the key file (if it changed) and the recorded state now."""
        with self._lock:
            self._refresh_locked(self._clock.now())

    def _current(self) -> KeyRing:
        now = self._clock.now()
        last = self._refreshed_at
        if last is None or now >= last + self._interval or now < last:
            with self._lock:
                last = self._refreshed_at
                if last is None or now >= last + self._interval or now < last:
                    self._refresh_locked(now)
        return self._ring

    def adopt(self, state: RecordedState, now: datetime) -> None:
        """The recorded state as the server's start read it (in its start-up transaction):
        followed from then on, so the first use of the keys after a start does not open a
        connection of its own to read it again."""
        with self._lock:
            self._apply(state, now)

    def _refresh_locked(self, now: datetime) -> None:
        self._reload_key_file()
        try:
            state = read_recorded_state(self._engine)
        except Exception:  # the database is unreachable: keep the last state, retry next use
            log.warning("could not re-read the key state; keeping the last one", exc_info=True)
            return
        self._apply(state, now)

    def _apply(self, state: RecordedState, now: datetime) -> None:
        configured = self._configured
        usable = {kid: key for kid, key in configured.keys.items() if kid not in state.retired}
        primary = state.primary_kid or configured.primary_kid
        missing = None if primary in usable else primary
        if missing is not None and missing != self._missing_primary:
            log.error("%s", words.translate(missing_primary_message(missing)))
        if missing is not None:
            primary = next(iter(usable), configured.primary_kid)
        if not usable:
            usable = dict(configured.keys)
            primary = configured.primary_kid
        self._ring = KeyRing(keys=usable, primary_kid=primary)
        self._missing_primary = missing
        self._refreshed_at = now

    def _reload_key_file(self) -> None:
        if self._key_file is None:
            return
        signature = _file_signature(self._key_file)
        if signature is None or signature == self._file_signature:
            return
        try:
            ring = read_key_file(self._key_file)
        except KeyRingError as exc:
            log.error("ignoring the changed key file: %s", exc)
            return
        for kid, key in self._configured.keys.items():
            if kid in ring.keys and ring.keys[kid] != key:
                log.error(
                    "ignoring the changed key file %s: key '%s' differs from the one this "
                    "server started with",
                    self._key_file,
                    kid,
                )
                return
        self._configured = ring
        self._file_signature = signature

    # -- what callers use ------------------------------------------------------------------

    @property
    def configured(self) -> KeyRing:
        """The keys this server has (the key file as last read, or TWOFOLD_SECRET_KEYS)."""
        self._current()
        return self._configured

    @property
    def primary_kid(self) -> str:
        """The key id new values are sealed with; KeysMismatch if this server lacks it."""
        ring = self._current()
        if self._missing_primary is not None:
            raise KeysMismatch(missing_primary_message(self._missing_primary))
        return ring.primary_kid

    def has(self, kid: str) -> bool:
        return kid in self._current().keys

    def seal(self, plaintext: bytes, *, context: bytes) -> tuple[str, bytes]:
        ring = self._current()
        if self._missing_primary is not None:
            raise KeysMismatch(missing_primary_message(self._missing_primary))
        return ring.seal(plaintext, context=context)

    def open(self, kid: str, sealed: bytes, *, context: bytes) -> bytes:
        return self._current().open(kid, sealed, context=context)

    def primary_recovery_code_digest(self, user_id: int, normalized_code: str) -> tuple[str, bytes]:
        """(kid, digest) under the primary, read once so the two always agree."""
        ring = self._current()
        if self._missing_primary is not None:
            raise KeysMismatch(missing_primary_message(self._missing_primary))
        return ring.primary_kid, ring.recovery_code_digest(user_id, normalized_code)

    def recovery_code_digest(
        self, user_id: int, normalized_code: str, *, kid: str | None = None
    ) -> bytes:
        return self._current().recovery_code_digest(user_id, normalized_code, kid=kid)

    def recovery_code_digests(self, user_id: int, normalized_code: str) -> list[tuple[str, bytes]]:
        return self._current().recovery_code_digests(user_id, normalized_code)

    def primary_sms_code_digest(self, user_id: int, code: str) -> tuple[str, bytes]:
        """(kid, digest) of a texted code under the primary, read once so the two agree."""
        ring = self._current()
        if self._missing_primary is not None:
            raise KeysMismatch(missing_primary_message(self._missing_primary))
        return ring.primary_kid, ring.sms_code_digest(user_id, code)

    def sms_code_digest(self, user_id: int, code: str, *, kid: str) -> bytes | None:
        """The digest under `kid`, or None when that key has left the ring (the code is dead)."""
        ring = self._current()
        if kid not in ring.keys:
            return None
        return ring.sms_code_digest(user_id, code, kid=kid)

    def csrf_key(self) -> bytes:
        return self._current().csrf_key()

    def session_key(self) -> bytes:
        return self._current().session_key()

    def fingerprints(self) -> dict[str, str]:
        return self.configured.fingerprints()


def recorded_primary(db: Session) -> KeyPrimary | None:
    return db.get(KeyPrimary, 1)


def retired_kids(db: Session) -> set[str]:
    return set(db.scalars(select(KeyFingerprint.kid).where(KeyFingerprint.retired_at.is_not(None))))
