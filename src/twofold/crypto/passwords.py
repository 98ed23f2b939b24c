"""Password hashing with argon2id, with parameters checked once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import argon2
from argon2.exceptions import VerificationError


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
