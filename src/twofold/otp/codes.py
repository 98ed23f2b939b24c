"""Cleaning up what a person typed before it is compared with anything."""


def normalize_code(raw: str) -> str:
    """Drop the spaces and dashes people add while copying a code; nothing else changes."""
    return "".join(ch for ch in raw if ch != "-" and not ch.isspace())


def is_numeric_code(code: str, digits: int) -> bool:
    """True for exactly `digits` ASCII digits; str.isdigit would also let through e.g. '٣'."""
    if digits < 1:
        raise ValueError("digits must be positive")
    # An ASCII string's digits are exactly 0-9.
    return len(code) == digits and code.isascii() and code.isdigit()
