"""The key ring: one 32-byte master key per key id (kid), stretched with HKDF-SHA256 into a
subkey per purpose (sealing, recovery codes, CSRF, sessions, fingerprints), so a single
configured key serves every use without any two uses sharing key material. Secrets at rest
are sealed with it (AES-GCM); recovery codes are digested with it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twofold.core import words
from twofold.core.words import Words, translate
from twofold.crypto.tokens import require_bytes

KEY_BYTES = 32


NONCE_BYTES = 12


_TAG_BYTES = 16


_KID_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


_MAX_USER_ID = 2**63 - 1  # a signed 64-bit primary key


# HKDF info labels: one per purpose; changing one silently invalidates everything derived from it.
_INFO_SEAL = b"twofold seal v1"


_INFO_RECOVERY_CODE = b"twofold recovery-code v1"


_INFO_SMS_CODE = b"twofold sms-code v1"


_INFO_CSRF = b"twofold csrf v1"


_INFO_SESSION = b"twofold session v1"


_INFO_FINGERPRINT = b"twofold fingerprint v1"


_FINGERPRINT_LABEL = b"twofold key fingerprint"


_FINGERPRINT_HEX_CHARS = 16


class KeyRingError(ValueError):
    """Keys missing, malformed, or not the ones the data was sealed with; `message` is the
    catalogue message, `str(error)` its English."""

    def __init__(self, message: Words) -> None:
        super().__init__(translate(message))
        self.message = message


class SealError(Exception):
    """A ciphertext could not be opened (wrong key, tampered, wrong context)."""


def _derive(master: bytes, info: bytes) -> bytes:
    """Stretch a master key into the subkey for one purpose, so purposes never share keys."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)


@dataclass(frozen=True, repr=False)
class KeyRing:
    """Master keys by kid; the primary seals new data, the others only open old data."""

    keys: Mapping[str, bytes]
    primary_kid: str

    def __post_init__(self) -> None:
        """Validate once so every later operation can trust the ring."""
        if not isinstance(self.keys, Mapping):
            raise KeyRingError(words.KEYS_NOT_A_MAPPING)
        if not self.keys:
            raise KeyRingError(words.KEY_RING_EMPTY(help=words.KEY_HELP))
        copied: dict[str, bytes] = {}
        for kid, key in self.keys.items():
            if not isinstance(kid, str) or not _KID_RE.fullmatch(kid):
                raise KeyRingError(words.KEY_RING_KID_INVALID)
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyRingError(
                    words.KEY_NOT_32_BYTES(kid=kid, length=KEY_BYTES, help=words.KEY_HELP)
                )
            copied[kid] = key
        if not isinstance(self.primary_kid, str) or self.primary_kid not in copied:
            raise KeyRingError(words.PRIMARY_KID_NOT_IN_RING(kid=str(self.primary_kid)))
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
                    raise KeyRingError(words.KID_APPEARS_TWICE(kid=kid))
                keys[kid] = key
        if not keys:
            raise KeyRingError(words.NO_KEYS_FOUND(help=words.KEY_HELP))
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
        require_bytes("plaintext", plaintext)
        _require_context(context)
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead = AESGCM(_derive(self.keys[self.primary_kid], _INFO_SEAL))
        return self.primary_kid, nonce + aead.encrypt(nonce, plaintext, context)

    def open(self, kid: str, sealed: bytes, *, context: bytes) -> bytes:
        """Decrypt what seal() produced; the context must be the one used when sealing."""
        master = self._master(kid)
        require_bytes("sealed", sealed)
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
        return _keyed_digest(master, _INFO_RECOVERY_CODE, user_id, normalized_code)

    def sms_code_digest(self, user_id: int, code: str, *, kid: str | None = None) -> bytes:
        """Keyed digest of a texted code (its own subkey): a stolen database holds no code,
        and a million guesses at one need the key."""
        master = self._master(self.primary_kid if kid is None else kid)
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            raise TypeError(f"user_id must be int, not {type(user_id).__name__}")
        if not 0 <= user_id <= _MAX_USER_ID:
            raise ValueError("user_id must be between 0 and 2**63 - 1")
        if not isinstance(code, str) or not code:
            raise ValueError("code must be a non-empty str")
        return _keyed_digest(master, _INFO_SMS_CODE, user_id, code)

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
                words.KID_NOT_IN_RING(kid=kid, configured=", ".join(self._kids()))
            ) from None


def _keyed_digest(master: bytes, info: bytes, user_id: int, text: str) -> bytes:
    """HMAC-SHA-256 under the subkey for `info` of: 8-byte big-endian user id, 4-byte
    big-endian length, UTF-8 text (a fixed-width id and a length prefix keep (1, "12") and
    (11, "2") apart)."""
    encoded = text.encode("utf-8")
    message = struct.pack(">QI", user_id, len(encoded)) + encoded
    return hmac.new(_derive(master, info), message, hashlib.sha256).digest()


def _require_context(context: object) -> None:
    """An empty context would let a ciphertext be moved between rows, which it exists to stop."""
    if not require_bytes("context", context):
        raise ValueError("context must not be empty")


def _parse_entry(position: int, entry: str) -> tuple[str, bytes]:
    """One 'kid:KEY' entry; errors name the entry by position and never echo key text."""
    kid, colon, encoded = entry.partition(":")
    kid = kid.strip()
    encoded = encoded.strip()
    if not colon:
        raise KeyRingError(words.KEY_ENTRY_WITHOUT_COLON(position=position, help=words.KEY_HELP))
    if not _KID_RE.fullmatch(kid):
        raise KeyRingError(words.KEY_ENTRY_KID_INVALID(position=position))
    if not encoded:
        raise KeyRingError(words.KEY_EMPTY(kid=kid, help=words.KEY_HELP))
    key = _decode_base64(encoded)
    if key is None:
        raise KeyRingError(words.KEY_NOT_BASE64(kid=kid, help=words.KEY_HELP))
    if len(key) != KEY_BYTES:
        raise KeyRingError(
            words.KEY_WRONG_LENGTH(
                kid=kid, length=len(key), expected=KEY_BYTES, help=words.KEY_HELP
            )
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
