"""Recovery codes: the one-time fallback when the authenticator is lost (format only)."""

import secrets

from twofold.otp.codes import normalize_code

RECOVERY_CODE_COUNT = 10
# Crockford-style base32 without i, l, o, u: nothing that reads like another symbol.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_CODE_LENGTH = 16  # 16 symbols x 5 bits = 80 bits
_GROUP = 4
_ALPHABET_SET = frozenset(RECOVERY_ALPHABET)
_CONFUSABLES = str.maketrans({"o": "0", "i": "1", "l": "1"})


def generate_recovery_code() -> str:
    """One fresh code, grouped as 'xxxx-xxxx-xxxx-xxxx' so it can be copied down by hand."""
    symbols = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return "-".join(symbols[i : i + _GROUP] for i in range(0, RECOVERY_CODE_LENGTH, _GROUP))


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` distinct codes; a repeat would leave the user with one fewer than promised."""
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    codes: list[str] = []
    while len(codes) < count:
        code = generate_recovery_code()
        if code not in codes:
            codes.append(code)
    return codes


def normalize_recovery_code(raw: str) -> str:
    """The canonical 16-symbol form of a typed code: case, spacing, dashes and look-alikes fixed.

    Never raises; whether the result is usable is for is_well_formed_recovery_code to say.
    """
    return normalize_code(raw).lower().translate(_CONFUSABLES)


def is_well_formed_recovery_code(normalized: str) -> bool:
    """True if `normalized` could be a code we issued (right length, right alphabet)."""
    return len(normalized) == RECOVERY_CODE_LENGTH and all(ch in _ALPHABET_SET for ch in normalized)
