"""Rules for security keys and passkeys (WebAuthn, decision 0027), free of the protocol
library: where they are offered and accepted, which amr a key earns, the relying-party id,
and the cloned-key rule. The ceremonies themselves are in services/webauthn (py_webauthn)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from twofold.core import words
from twofold.core.errors import SignCountRegressed
from twofold.core.methods import authenticator_name
from twofold.core.policy import PasskeyPolicy
from twofold.core.sessions import Method

CHALLENGE_SECONDS = 5 * 60
CHALLENGE_BYTES = 32
# A registration response carries the attestation (certificates for some keys): a few KB.
MAX_RESPONSE_CHARS = 64_000


def stored_passkeys(stored: str | None) -> PasskeyPolicy:
    """organizations.passkeys as stored (core.policy.PasskeyPolicy), or the default
    (second-factor) for anything unknown."""
    try:
        return PasskeyPolicy(stored or PasskeyPolicy.SECOND_FACTOR)
    except ValueError:
        return PasskeyPolicy.SECOND_FACTOR


def accepted_in(policy: str | None) -> bool:
    """Whether a key is offered and accepted when entering an organization with `policy`;
    None: no organization (then nothing forbids it: keys are accepted)."""
    return policy is None or stored_passkeys(policy) is not PasskeyPolicy.OFF


def passwordless_allowed(policies: Sequence[str]) -> bool:
    """A passkey alone signs a person in only when every one of their organizations allows
    it; a person in no organization has nobody who decided so, and types the password."""
    return bool(policies) and all(
        stored_passkeys(p) is PasskeyPolicy.PASSWORDLESS for p in policies
    )


def method_of(backup_eligible: bool) -> Method:
    """amr: a synced passkey (backup eligible) is `swk`, a device-bound key `hwk`."""
    return Method.SOFTWARE_KEY if backup_eligible else Method.HARDWARE_KEY


def passkey_name(raw: str) -> str:
    """Like an authenticator's name (core.methods), said for a key."""
    return authenticator_name(raw, words.PASSKEY_NAME_SHAPE)


def ensure_sign_count_advances(stored: int, reported: int) -> None:
    """WebAuthn §6.1.1: once either counter is non-zero, each use must report more than the
    last; one that does not is a copy of the key, used after (or before) the original."""
    if (stored > 0 or reported > 0) and reported <= stored:
        raise SignCountRegressed()


def rp_id_fits(rp_id: str, host: str) -> bool:
    """Whether `rp_id` may be the relying-party id of a site served at `host`: the host
    itself, or a parent domain of it (a registrable suffix: at least one dot, no IP)."""
    rp_id = rp_id.strip().lower().rstrip(".")
    host = host.strip().lower().rstrip(".")
    if not rp_id or not host:
        return False
    if rp_id == host:
        return True
    if _is_ip(host) or _is_ip(rp_id) or "." not in rp_id:
        return False
    return host.endswith("." + rp_id)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
