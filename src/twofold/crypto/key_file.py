"""The key file: created once with a fresh key (safely when several processes start
together), read with its permissions checked, rewritten atomically when keys rotate."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from twofold.core import words
from twofold.crypto.keyring import KeyRing, KeyRingError

_KEY_FILE_WAIT_SECONDS = 2.0


def load_or_create_key_file(path: Path) -> tuple[KeyRing, bool]:
    """Read the key file, or create it on first start; returns (ring, created).

    Creation uses O_EXCL so two processes starting together cannot overwrite each other's key:
    the loser reads the winner's file instead.
    """
    path = Path(path)
    try:
        return _read_key_file(path), False
    except FileNotFoundError:
        pass
    ring = KeyRing.generate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            return _read_key_file(path), False
        except FileNotFoundError as exc:
            raise KeyRingError(words.KEY_FILE_VANISHED(path=str(path))) from exc
    except OSError as exc:
        raise KeyRingError(
            words.KEY_FILE_CANNOT_CREATE(path=str(path), problem=str(exc.strerror))
        ) from exc
    try:
        _write_synced(fd, ring)
    except OSError as exc:
        path.unlink(missing_ok=True)  # never leave a half-written key file behind
        raise _cannot_write(path, exc) from exc
    _fsync_directory(path.parent)
    return ring, True


def read_key_file(path: Path) -> KeyRing:
    """Read an existing key file (KeyRingError if it is missing, unreadable or malformed)."""
    try:
        return _read_key_file(Path(path))
    except FileNotFoundError as exc:
        raise KeyRingError(words.KEY_FILE_MISSING(path=str(path))) from exc


def rewrite_key_file(path: Path, ring: KeyRing) -> None:
    """Replace the key file with ring, atomically: running servers re-reading it see either
    the old file or the new one, never half of it. Two writers at once: the second is refused."""
    path = Path(path)
    temporary = path.with_name(path.name + ".new")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyRingError(words.KEY_FILE_CHANGE_UNDER_WAY(path=str(temporary))) from None
    except OSError as exc:
        raise KeyRingError(
            words.CANNOT_WRITE_FILE(path=str(temporary), problem=str(exc.strerror))
        ) from exc
    try:
        _write_synced(fd, ring)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _cannot_write(path, exc) from exc
    _fsync_directory(path.parent)


def _write_synced(fd: int, ring: KeyRing) -> None:
    """Write `ring` to the open file `fd` and wait until it is on disk; closes `fd`."""
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(ring.to_text())
        handle.flush()
        os.fsync(handle.fileno())


def _cannot_write(path: Path, exc: OSError) -> KeyRingError:
    return KeyRingError(words.KEY_FILE_CANNOT_WRITE(path=str(path), problem=str(exc.strerror)))


def _read_key_file(path: Path) -> KeyRing:
    """Parse the key file, refusing one others can read; FileNotFoundError passes through.

    An empty file is re-read for a moment: a concurrent starter may have created it with O_EXCL
    and not yet written the key.
    """
    deadline = time.monotonic() + _KEY_FILE_WAIT_SECONDS
    while True:
        text = _read_private_text(path)
        if text.strip() or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    try:
        return KeyRing.parse(text)
    except KeyRingError as exc:
        raise KeyRingError(words.KEY_FILE_PROBLEM(path=str(path), problem=exc.message)) from exc


def _read_private_text(path: Path) -> str:
    """Read the file, checking the mode of the opened file so the check and read cannot race."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang start-up.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyRingError(
            words.KEY_FILE_CANNOT_READ(path=str(path), problem=str(exc.strerror))
        ) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyRingError(words.KEY_FILE_NOT_REGULAR(path=str(path)))
        if os.name == "posix" and info.st_mode & 0o077:
            mode = f"{stat.S_IMODE(info.st_mode):o}"
            raise KeyRingError(words.KEY_FILE_TOO_OPEN(path=str(path), mode=mode))
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyRingError(words.KEY_FILE_NOT_UTF8(path=str(path))) from exc


def _fsync_directory(directory: Path) -> None:
    """Make the new key file's directory entry durable: losing the key loses every secret."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
