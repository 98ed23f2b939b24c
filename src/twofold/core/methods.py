"""Rules about a person's second factors as a set (decision 0020): how many, what they are
called, and when one may be removed. Verification itself is in services/second_factor."""

from __future__ import annotations

from collections.abc import Sequence

from twofold.core import words
from twofold.core.errors import InvalidInput, LastMethodRequired, TooManyAuthenticators
from twofold.core.words import Msg, Words

MAX_AUTHENTICATORS = 10
AUTHENTICATOR_NAME_MAX = 64


def authenticator_name(raw: str, shape: Msg = words.AUTHENTICATOR_NAME_SHAPE) -> str:
    """THE name rule of every second factor (apps, phones, security keys): the name
    without surrounding spaces; 1 to 64 characters, none of them a control character (it
    is shown in pages, emails, the admin console and the CLI). `shape` says it for the kind."""
    name = " ".join(raw.split()) if raw.isprintable() else ""
    if not name or len(name) > AUTHENTICATOR_NAME_MAX:
        raise InvalidInput("name", shape(max=AUTHENTICATOR_NAME_MAX))
    return name


def ensure_room_for_another(count: int) -> None:
    """At most MAX_AUTHENTICATORS confirmed authenticators per person."""
    if count >= MAX_AUTHENTICATORS:
        raise TooManyAuthenticators(MAX_AUTHENTICATORS)


def ensure_removable(others_left: int, blockers: Sequence[Words]) -> None:
    """A method may go while another remains, or where nothing requires 2FA (then removing
    the last one turns 2FA off). Moving phones under a required policy: add, then remove."""
    if others_left == 0 and blockers:
        raise LastMethodRequired(blockers)
