"""A software authenticator for tests: real WebAuthn answers (ES256, "none" attestation)
made with `cryptography`, so that service and web tests check py_webauthn's verification
without a browser. Each answer can be bent (origin, RP id, flags, counter) to test refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("0123456789abcdef0123456789abcdef")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftAuthenticator:
    """One authenticator holding any number of credentials. `backup_eligible`: a synced
    passkey (amr swk); `counts`: whether it increments its signature counter."""

    origin: str = "http://localhost:8000"
    backup_eligible: bool = False
    counts: bool = True
    credentials: dict[bytes, SoftCredential] = field(default_factory=dict)

    def _flags(self, uv: bool, up: bool = True) -> int:
        flags = (UP if up else 0) | (UV if uv else 0)
        if self.backup_eligible:
            flags |= BE | BS
        return flags

    def register(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        up: bool = True,
        resident: bool = True,
        challenge: bytes | None = None,
    ) -> str:
        """The answer of navigator.credentials.create() to `options_json`."""
        options = json.loads(options_json)
        rp = rp_id or options["rp"]["id"]
        credential = SoftCredential(
            credential_id=secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp,
            user_handle=unb64url(options["user"]["id"]),
        )
        self.credentials[credential.credential_id] = credential
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv, up) | AT])
            + struct.pack(">I", credential.sign_count)
            + AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        client_data = self._client_data(
            "webauthn.create", challenge or unb64url(options["challenge"]), origin
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": b64url(credential.credential_id),
                "rawId": b64url(credential.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["usb", "internal"],
                },
                "clientExtensionResults": {"credProps": {"rk": resident}},
                "authenticatorAttachment": "cross-platform",
            }
        )

    def assertion(
        self,
        options_json: str,
        *,
        credential_id: bytes | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        uv: bool = True,
        up: bool = True,
        sign_count: int | None = None,
    ) -> str:
        """The answer of navigator.credentials.get() to `options_json`, by the credential
        it allows (or `credential_id`, or the only one this authenticator holds)."""
        options = json.loads(options_json)
        if credential_id is None:
            allowed = [unb64url(c["id"]) for c in options.get("allowCredentials", [])]
            mine = [c for c in allowed if c in self.credentials] or list(self.credentials)
            credential_id = mine[0]
        credential = self.credentials[credential_id]
        if sign_count is not None:
            credential.sign_count = sign_count
        elif self.counts:
            credential.sign_count += 1
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(uv, up)])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", unb64url(options["challenge"]), origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return json.dumps(
            {
                "id": b64url(credential.credential_id),
                "rawId": b64url(credential.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": b64url(credential.user_handle),
                },
                "clientExtensionResults": {},
                "authenticatorAttachment": "cross-platform",
            }
        )

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        data: dict[str, Any] = {
            "type": kind,
            "challenge": b64url(challenge),
            "origin": origin or self.origin,
            "crossOrigin": False,
        }
        return json.dumps(data).encode()

    def clone(self) -> SoftAuthenticator:
        """A copy of this authenticator's keys and counters (what a cloned key would be)."""
        copied = {
            cid: SoftCredential(c.credential_id, c.key, c.rp_id, c.user_handle, c.sign_count)
            for cid, c in self.credentials.items()
        }
        return SoftAuthenticator(self.origin, self.backup_eligible, self.counts, copied)
