"""Secrets at rest, recovery-code digests, random tokens and password hashing.

Everything that touches key material lives here so the rest of Twofold never handles raw keys.
One 32-byte master key per key id (kid) is stretched with HKDF-SHA256 into a subkey per
purpose (sealing, recovery codes, CSRF, sessions, fingerprints), so a single configured key
serves every use without any two uses sharing key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import argon2
from argon2.exceptions import VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KeyRing",
    "KeyRingError",
    "PasswordHasher",
    "PasswordHashingParams",
    "SealError",
    "constant_time_equals",
    "load_or_create_key_file",
    "new_token",
    "read_key_file",
    "rewrite_key_file",
    "token_digest",
]

KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_KID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_MAX_USER_ID = 2**63 - 1  # a signed 64-bit primary key
_MIN_TOKEN_BYTES = 16

# HKDF info labels: one per purpose; changing one silently invalidates everything derived from it.
_INFO_SEAL = b"twofold seal v1"
_INFO_RECOVERY_CODE = b"twofold recovery-code v1"
_INFO_CSRF = b"twofold csrf v1"
_INFO_SESSION = b"twofold session v1"
_INFO_FINGERPRINT = b"twofold fingerprint v1"
_FINGERPRINT_LABEL = b"twofold key fingerprint"
_FINGERPRINT_HEX_CHARS = 16

_KEY_HELP = (
    "Each entry is 'kid:KEY' where KEY is 32 random bytes in base64url, e.g. generate one with: "
    'python -c "import base64,secrets;'
    "print('k1:'+base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('='))\""
)
_KEY_FILE_WAIT_SECONDS = 2.0


class KeyRingError(ValueError):
    """Keys missing, malformed, or not the ones the data was sealed with."""


class SealError(Exception):
    """A ciphertext could not be opened (wrong key, tampered, wrong context)."""


def _derive(master: bytes, info: bytes) -> bytes:
    """Stretch a master key into the subkey for one purpose, so purposes never share keys."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


def _require_bytes(name: str, value: object) -> bytes:
    """Reject str and other look-alikes early: silently encoding them hides caller bugs."""
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return value


@dataclass(frozen=True, repr=False)
class KeyRing:
    """Master keys by kid; the primary seals new data, the others only open old data."""

    keys: Mapping[str, bytes]
    primary_kid: str

    def __post_init__(self) -> None:
        """Validate once so every later operation can trust the ring."""
        if not isinstance(self.keys, Mapping):
            raise KeyRingError("keys must be a mapping of kid -> 32-byte key")
        if not self.keys:
            raise KeyRingError(f"the key ring is empty. {_KEY_HELP}")
        copied: dict[str, bytes] = {}
        for kid, key in self.keys.items():
            if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
                raise KeyRingError(
                    "a key id is invalid: kids must be 1-32 characters of A-Z a-z 0-9 _ . -"
                )
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} must be exactly {KEY_BYTES} bytes. {_KEY_HELP}")
            copied[kid] = key
        if not isinstance(self.primary_kid, str) or self.primary_kid not in copied:
            raise KeyRingError(f"primary key id {self.primary_kid!r} is not in the key ring")
        # A private read-only copy: later changes to the caller's dict cannot bypass validation.
        object.__setattr__(self, "keys", MappingProxyType(copied))

    def __repr__(self) -> str:
        """Show kids only, so a logged or printed ring never leaks key bytes."""
        return f"KeyRing(kids={self._kids()!r}, primary_kid={self.primary_kid!r})"

    def _kids(self) -> list[str]:
        """Key ids, primary first: the order in which to try keys after a rotation."""
        return [self.primary_kid, *(kid for kid in self.keys if kid != self.primary_kid)]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read TWOFOLD_SECRET_KEYS / key-file text; the first entry becomes the primary."""
        if not isinstance(text, str):
            raise TypeError(f"key ring text must be str, not {type(text).__name__}")
        keys: dict[str, bytes] = {}
        position = 0
        for raw_line in text.splitlines():
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            for raw_entry in line.split(","):
                entry = raw_entry.strip()
                if not entry:
                    continue  # tolerate trailing commas
                position += 1
                kid, key = _parse_entry(position, entry)
                if kid in keys:
                    raise KeyRingError(f"key id {kid!r} appears more than once")
                keys[kid] = key
        if not keys:
            raise KeyRingError(f"no keys found. {_KEY_HELP}")
        return cls(keys=keys, primary_kid=next(iter(keys)))

    @classmethod
    def generate(cls, kid: str = "k1") -> KeyRing:
        """A fresh single-key ring, for first start-up."""
        return cls(keys={kid: secrets.token_bytes(KEY_BYTES)}, primary_kid=kid)

    def to_text(self) -> str:
        """Serialise for the key file in the same format parse() reads, primary first."""
        lines = [
            f"{kid}:{base64.urlsafe_b64encode(self.keys[kid]).decode('ascii').rstrip('=')}"
            for kid in self._kids()
        ]
        return "\n".join(lines) + "\n"

    def fingerprints(self) -> dict[str, str]:
        """Short public ids per key, so the DB can detect a missing or replaced key."""
        result: dict[str, str] = {}
        for kid in self._kids():
            subkey = _derive(self.keys[kid], _INFO_FINGERPRINT)
            digest = hmac.new(subkey, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
            result[kid] = digest[:_FINGERPRINT_HEX_CHARS]
        return result

    def seal(self, plaintext: bytes, *, context: bytes) -> tuple[str, bytes]:
        """Encrypt under the primary key, bound to context so it cannot be moved to another row.

        Returns (kid, nonce + ciphertext); store both.
        """
        _require_bytes("plaintext", plaintext)
        _require_context(context)
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead = AESGCM(_derive(self.keys[self.primary_kid], _INFO_SEAL))
        return self.primary_kid, nonce + aead.encrypt(nonce, plaintext, context)

    def open(self, kid: str, sealed: bytes, *, context: bytes) -> bytes:
        """Decrypt what seal() produced; the context must be the one used when sealing."""
        master = self._master(kid)
        _require_bytes("sealed", sealed)
        _require_context(context)
        failure = (
            f"could not open data sealed with key {kid!r}: "
            "wrong key, tampered ciphertext, or wrong context"
        )
        if len(sealed) < NONCE_BYTES + _TAG_BYTES:
            raise SealError(failure)
        aead = AESGCM(_derive(master, _INFO_SEAL))
        try:
            return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
        except InvalidTag:
            raise SealError(failure) from None

    def recovery_code_digest(
        self, user_id: int, normalized_code: str, *, kid: str | None = None
    ) -> bytes:
        """Keyed digest of a recovery code, so codes can be looked up but not read or guessed.

        Message: 8-byte big-endian user id, 4-byte big-endian length, UTF-8 code — a fixed-width
        id and a length prefix keep (1, "12") and (11, "2") apart.
        """
        master = self._master(self.primary_kid if kid is None else kid)
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise TypeError(f"user_id must be int, not {type(user_id).__name__}")
        if not 0 <= user_id <= _MAX_USER_ID:
            raise ValueError("user_id must be between 0 and 2**63 - 1")
        if not isinstance(normalized_code, str):
            raise TypeError(f"normalized_code must be str, not {type(normalized_code).__name__}")
        if not normalized_code:
            raise ValueError("normalized_code must not be empty")
        code = normalized_code.encode("utf-8")
        message = struct.pack(">QI", user_id, len(code)) + code
        subkey = _derive(master, _INFO_RECOVERY_CODE)
        return hmac.new(subkey, message, hashlib.sha256).digest()

    def recovery_code_digests(self, user_id: int, normalized_code: str) -> list[tuple[str, bytes]]:
        """A digest per key, primary first, so codes stored before a rotation still match."""
        return [
            (kid, self.recovery_code_digest(user_id, normalized_code, kid=kid))
            for kid in self._kids()
        ]

    def csrf_key(self) -> bytes:
        """Key for CSRF tokens, under the primary key (rotating it only expires open forms)."""
        return _derive(self.keys[self.primary_kid], _INFO_CSRF)

    def session_key(self) -> bytes:
        """Key reserved for signing session data, under the primary key."""
        return _derive(self.keys[self.primary_kid], _INFO_SESSION)

    def _master(self, kid: str) -> bytes:
        """The master key for kid, or a KeyRingError that says which keys are configured."""
        if not isinstance(kid, str):
            raise TypeError(f"kid must be str, not {type(kid).__name__}")
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyRingError(
                f"key {kid!r} is not in the key ring (configured: {', '.join(self._kids())}); "
                "was it removed while data sealed with it remains?"
            ) from None


def _require_context(context: object) -> None:
    """An empty context would let a ciphertext be moved between rows, which it exists to stop."""
    if not _require_bytes("context", context):
        raise ValueError("context must not be empty")


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    """One 'kid:KEY' entry; errors name the entry by position and never echo key text."""
    kid, colon, encoded = entry.partition(":")
    kid = kid.strip()
    encoded = encoded.strip()
    where = f"key entry {position}"
    if not colon:
        raise KeyRingError(f"{where} has no ':' between key id and key. {_KEY_HELP}")
    if not _KID_RE.fullmatch(kid):
        raise KeyRingError(
            f"{where} has an invalid key id: use 1-32 characters of A-Z a-z 0-9 _ . -"
        )
    if not encoded:
        raise KeyRingError(f"key {kid!r} is empty. {_KEY_HELP}")
    key = _decode_base64(encoded)
    if key is None:
        raise KeyRingError(f"key {kid!r} is not valid base64 or base64url. {_KEY_HELP}")
    if len(key) != KEY_BYTES:
        raise KeyRingError(
            f"key {kid!r} is {len(key)} bytes long; it must be {KEY_BYTES}. {_KEY_HELP}"
        )
    return kid, key


def _decode_base64(encoded: str) -> bytes | None:
    """Decode standard or URL-safe base64, padded or not; None if it is neither."""
    if not _BASE64_RE.fullmatch(encoded):
        return None
    unpadded = encoded.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    except binascii.Error:
        return None


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
            raise KeyRingError(f"key file {path} vanished while being created; retry") from exc
    except OSError as exc:
        raise KeyRingError(f"cannot create key file {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(ring.to_text())
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)  # never leave a half-written key file behind
        raise KeyRingError(f"cannot write key file {path}: {exc.strerror}") from exc
    _fsync_directory(path.parent)
    return ring, True


def read_key_file(path: Path) -> KeyRing:
    """Read an existing key file (KeyRingError if it is missing, unreadable or malformed)."""
    try:
        return _read_key_file(Path(path))
    except FileNotFoundError as exc:
        raise KeyRingError(f"key file {path} does not exist") from exc


def rewrite_key_file(path: Path, ring: KeyRing) -> None:
    """Replace the key file with ring, atomically: running servers re-reading it see either
    the old file or the new one, never half of it. Two writers at once: the second is refused."""
    path = Path(path)
    temporary = path.with_name(path.name + ".new")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyRingError(
            f"{temporary} exists: another key change is under way, or one was interrupted "
            "(then delete that file and retry)"
        ) from None
    except OSError as exc:
        raise KeyRingError(f"cannot write {temporary}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(ring.to_text())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise KeyRingError(f"cannot write key file {path}: {exc.strerror}") from exc
    _fsync_directory(path.parent)


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
        raise KeyRingError(f"key file {path}: {exc}") from exc


def _read_private_text(path: Path) -> str:
    """Read the file, checking the mode of the opened file so the check and read cannot race."""
    try:
        # O_NONBLOCK: a FIFO planted at the path must not hang start-up.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyRingError(f"cannot read key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyRingError(f"key file {path} is not a regular file")
        if os.name == "posix" and info.st_mode & 0o077:
            raise KeyRingError(
                f"key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}"
            )
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyRingError(f"key file {path} is not UTF-8 text") from exc


def _fsync_directory(directory: Path) -> None:
    """Make the new key file's directory entry durable: losing the key loses every secret."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token; at least 128 bits so short tokens cannot slip in."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int):
        raise TypeError(f"nbytes must be int, not {type(nbytes).__name__}")
    if nbytes < _MIN_TOKEN_BYTES:
        raise ValueError(f"nbytes must be at least {_MIN_TOKEN_BYTES}")
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> bytes:
    """SHA-256 of a token: tokens are high-entropy, so a fast unkeyed hash suffices at rest."""
    if not isinstance(token, str):
        raise TypeError(f"token must be str, not {type(token).__name__}")
    if not token:
        raise ValueError("token must not be empty")
    return hashlib.sha256(token.encode("utf-8")).digest()


def constant_time_equals(a: bytes | str, b: bytes | str) -> bool:
    """Compare secrets without leaking where they differ through timing."""
    return hmac.compare_digest(_as_bytes("a", a), _as_bytes("b", b))


def _as_bytes(name: str, value: bytes | str) -> bytes:
    """UTF-8 for str, so str and bytes compare alike and non-ASCII str does not raise."""
    if isinstance(value, str):
        return value.encode("utf-8")
    return _require_bytes(name, value)


@dataclass(frozen=True)
class PasswordHashingParams:
    """Argon2id cost settings; the defaults follow current guidance for interactive logins."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    def __post_init__(self) -> None:
        """Reject settings Argon2 would refuse, at configuration time rather than first login."""
        for name in ("time_cost", "memory_cost_kib", "parallelism"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError("memory_cost_kib must be at least 8 * parallelism (Argon2 minimum)")

    @classmethod
    def for_tests(cls) -> PasswordHashingParams:
        """The cheapest valid settings, so test suites do not spend seconds hashing."""
        return cls(time_cost=1, memory_cost_kib=8, parallelism=1)


class PasswordHasher:
    """Argon2id password hashing with a timing-equalising dummy check for unknown users."""

    def __init__(self, params: PasswordHashingParams = PasswordHashingParams()) -> None:
        """Build the hasher and the dummy hash that verify_dummy() checks against."""
        if not isinstance(params, PasswordHashingParams):
            raise TypeError("params must be PasswordHashingParams")
        self.params = params
        self._hasher = argon2.PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_cost_kib,
            parallelism=params.parallelism,
            type=argon2.Type.ID,
        )
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    def __repr__(self) -> str:
        """Params only; the dummy hash is of no use to a reader."""
        return f"PasswordHasher(params={self.params!r})"

    def hash(self, password: str) -> str:
        """Argon2id hash with a fresh salt, in the standard encoded form."""
        return self._hasher.hash(_require_password(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True only on a match; a mismatch or unreadable stored hash is simply False."""
        if not isinstance(stored_hash, str):
            raise TypeError(f"stored_hash must be str, not {type(stored_hash).__name__}")
        password = _require_password(password)
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, ValueError):  # ValueError covers InvalidHashError
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if the hash was made with other settings (or is unreadable) and should be redone."""
        if not isinstance(stored_hash, str):
            raise TypeError(f"stored_hash must be str, not {type(stored_hash).__name__}")
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except ValueError:
            return True

    def verify_dummy(self, password: str) -> bool:
        """Spend a real verification's time for an unknown user, then report failure."""
        self.verify(self._dummy_hash, password)
        return False


def _require_password(password: object) -> str:
    """Passwords are text; bytes here would mean a caller skipped decoding."""
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    return password
