"""Tests for twofold.crypto: key ring, sealing, recovery-code digests, tokens, passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stat
import struct
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from twofold.crypto import key_file
from twofold.crypto.key_file import load_or_create_key_file
from twofold.crypto.keyring import KeyRing, KeyRingError, SealError
from twofold.crypto.passwords import PasswordHasher, PasswordHashingParams
from twofold.crypto.tokens import constant_time_equals, new_token, token_digest

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
CONTEXT = b"totp-secret:user:42"

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-only")


def b64url(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def b64std(key: bytes) -> str:
    return base64.b64encode(key).decode()


def hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(keys={"k1": KEY_A}, primary_kid="k1")


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(PasswordHashingParams.for_tests())


# --- sealing -------------------------------------------------------------------------------


def test_seal_then_open_returns_the_plaintext(ring: KeyRing) -> None:
    kid, sealed = ring.seal(b"JBSWY3DPEHPK3PXP", context=CONTEXT)
    assert kid == "k1"
    assert ring.open(kid, sealed, context=CONTEXT) == b"JBSWY3DPEHPK3PXP"


def test_sealing_twice_uses_a_fresh_nonce(ring: KeyRing) -> None:
    _, first = ring.seal(b"secret", context=CONTEXT)
    _, second = ring.seal(b"secret", context=CONTEXT)
    assert first[:12] != second[:12]
    assert first != second


def test_a_ciphertext_moved_to_another_user_does_not_open(ring: KeyRing) -> None:
    kid, sealed = ring.seal(b"secret", context=b"totp-secret:user:42")
    with pytest.raises(SealError):
        ring.open(kid, sealed, context=b"totp-secret:user:43")


@pytest.mark.parametrize("index", [0, 11, 12, -1])
def test_a_tampered_byte_does_not_open(ring: KeyRing, index: int) -> None:
    kid, sealed = ring.seal(b"secret", context=CONTEXT)
    tampered = bytearray(sealed)
    tampered[index] ^= 0x01
    with pytest.raises(SealError):
        ring.open(kid, bytes(tampered), context=CONTEXT)


def test_a_truncated_ciphertext_does_not_open(ring: KeyRing) -> None:
    with pytest.raises(SealError):
        ring.open("k1", b"\x00" * 20, context=CONTEXT)


def test_a_ciphertext_does_not_open_under_another_key_with_the_same_kid(ring: KeyRing) -> None:
    kid, sealed = ring.seal(b"secret", context=CONTEXT)
    other = KeyRing(keys={"k1": KEY_B}, primary_kid="k1")
    with pytest.raises(SealError):
        other.open(kid, sealed, context=CONTEXT)


def test_opening_with_an_unknown_kid_raises_key_ring_error(ring: KeyRing) -> None:
    _, sealed = ring.seal(b"secret", context=CONTEXT)
    with pytest.raises(KeyRingError, match="'k9'"):
        ring.open("k9", sealed, context=CONTEXT)


def test_sealing_with_an_empty_context_is_refused(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="context"):
        ring.seal(b"secret", context=b"")


def test_sealing_text_instead_of_bytes_is_refused(ring: KeyRing) -> None:
    with pytest.raises(TypeError, match="plaintext"):
        ring.seal("secret", context=CONTEXT)  # type: ignore[arg-type]


def test_after_rotation_old_ciphertexts_open_and_new_ones_use_the_new_primary() -> None:
    old_ring = KeyRing.parse(f"k1:{b64url(KEY_A)}")
    old_kid, old_sealed = old_ring.seal(b"old secret", context=CONTEXT)

    rotated = KeyRing.parse(f"k2:{b64url(KEY_B)}\nk1:{b64url(KEY_A)}")
    assert rotated.open(old_kid, old_sealed, context=CONTEXT) == b"old secret"
    new_kid, new_sealed = rotated.seal(b"new secret", context=CONTEXT)
    assert new_kid == "k2"
    assert rotated.open(new_kid, new_sealed, context=CONTEXT) == b"new secret"


# --- construction and parsing --------------------------------------------------------------


def test_parse_accepts_comma_separated_entries_with_the_first_as_primary() -> None:
    ring = KeyRing.parse(f" k2:{b64url(KEY_B)} , k1:{b64url(KEY_A)} ")
    assert ring.primary_kid == "k2"
    assert dict(ring.keys) == {"k2": KEY_B, "k1": KEY_A}


def test_parse_accepts_newline_separated_entries_with_comments_and_blank_lines() -> None:
    text = f"# rotated 2024-05\n\n  k2:{b64url(KEY_B)}  \n# old key\nk1:{b64url(KEY_A)}\n"
    ring = KeyRing.parse(text)
    assert ring.primary_kid == "k2"
    assert dict(ring.keys) == {"k2": KEY_B, "k1": KEY_A}


@pytest.mark.parametrize(
    "encoded",
    [
        b64url(KEY_A),
        base64.urlsafe_b64encode(KEY_A).decode(),
        b64std(KEY_A),
        b64std(KEY_A).rstrip("="),
    ],
    ids=["base64url", "base64url-padded", "base64", "base64-unpadded"],
)
def test_parse_accepts_base64_and_base64url_keys(encoded: str) -> None:
    assert KeyRing.parse(f"k1:{encoded}").keys["k1"] == KEY_A


def test_parse_reads_what_to_text_writes() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k2")
    text = ring.to_text()
    assert text.splitlines()[0].startswith("k2:")
    assert KeyRing.parse(text) == ring


# A key whose base64 contains '+' and '/' so it differs from its base64url form.
SECRET_LOOKING_KEY = b"\xfb\xff\xbf" * 10 + b"\xfb\xff"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no keys"),
        ("# only a comment\n\n", "no keys"),
        (b64url(SECRET_LOOKING_KEY), "no ':'"),
        (f"k1:{b64url(KEY_A)},k1:{b64url(SECRET_LOOKING_KEY)}", "more than once"),
        (f"k 1:{b64url(SECRET_LOOKING_KEY)}", "invalid key id"),
        (f"{'k' * 33}:{b64url(SECRET_LOOKING_KEY)}", "invalid key id"),
        (f"k1:{b64url(SECRET_LOOKING_KEY[:16])}", "must be 32"),
        (f"k1:{b64url(SECRET_LOOKING_KEY)}AAAA", "must be 32"),
        ("k1:", "empty"),
        (f"k1:{b64url(SECRET_LOOKING_KEY)[:-1]}!", "not valid base64"),
        (f"k1:{b64url(SECRET_LOOKING_KEY)}AA", "not valid base64"),
    ],
    ids=[
        "empty",
        "comments-only",
        "missing-colon",
        "duplicate-kid",
        "bad-kid-characters",
        "kid-too-long",
        "key-too-short",
        "key-too-long",
        "key-missing",
        "bad-base64-character",
        "bad-base64-length",
    ],
)
def test_parse_rejects_bad_text_without_echoing_the_key(text: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=re.escape(message)) as caught:
        KeyRing.parse(text)
    error = str(caught.value)
    for leaked in (b64url(SECRET_LOOKING_KEY), b64std(SECRET_LOOKING_KEY)):
        assert leaked[:16] not in error
    assert "generate" in error or "more than once" in error or "invalid key id" in error


def test_parse_error_tells_how_to_generate_a_key() -> None:
    with pytest.raises(KeyRingError, match=r"token_bytes\(32\)"):
        KeyRing.parse("")


@pytest.mark.parametrize(
    ("keys", "primary", "message"),
    [
        ({}, "k1", "empty"),
        ({"k1": KEY_A}, "k2", "primary"),
        ({"k1": KEY_A[:31]}, "k1", "32 bytes"),
        ({"bad kid": KEY_A}, "bad kid", "key id"),
    ],
    ids=["empty", "primary-missing", "short-key", "bad-kid"],
)
def test_constructing_an_invalid_ring_raises_key_ring_error(
    keys: dict[str, bytes], primary: str, message: str
) -> None:
    with pytest.raises(KeyRingError, match=message):
        KeyRing(keys=keys, primary_kid=primary)


def test_changing_the_callers_dict_does_not_change_the_ring() -> None:
    keys = {"k1": KEY_A}
    ring = KeyRing(keys=keys, primary_kid="k1")
    keys["k1"] = b"short"
    assert ring.keys["k1"] == KEY_A


def test_generate_makes_a_single_random_32_byte_key() -> None:
    first, second = KeyRing.generate(), KeyRing.generate("main")
    assert first.primary_kid == "k1"
    assert second.primary_kid == "main"
    assert len(first.keys["k1"]) == 32
    assert first.keys["k1"] != second.keys["main"]


def test_repr_shows_kids_but_not_key_bytes() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k1")
    text = repr(ring)
    assert "k1" in text
    assert "k2" in text
    for key in (KEY_A, KEY_B):
        assert b64url(key)[:8] not in text
        assert b64std(key)[:8] not in text
        assert key.hex()[:8] not in text
        assert repr(key)[:12] not in text


# --- fingerprints --------------------------------------------------------------------------


def test_fingerprints_are_16_hex_chars_per_kid() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k2")
    prints = ring.fingerprints()
    assert list(prints) == ["k2", "k1"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in prints.values())


def test_fingerprints_are_stable_for_the_same_key() -> None:
    first = KeyRing(keys={"k1": KEY_A}, primary_kid="k1").fingerprints()
    second = KeyRing(keys={"other": KEY_B, "k1": KEY_A}, primary_kid="other").fingerprints()
    assert first["k1"] == second["k1"]


def test_fingerprints_differ_for_different_keys() -> None:
    prints = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k1").fingerprints()
    assert prints["k1"] != prints["k2"]


def test_fingerprint_does_not_reveal_the_key() -> None:
    fingerprint = KeyRing(keys={"k1": KEY_A}, primary_kid="k1").fingerprints()["k1"]
    assert fingerprint not in KEY_A.hex()
    assert fingerprint != hashlib.sha256(KEY_A).hexdigest()[:16]


# --- recovery-code digests -----------------------------------------------------------------


def test_recovery_code_digest_is_deterministic_and_32_bytes(ring: KeyRing) -> None:
    digest = ring.recovery_code_digest(42, "abcd-efgh")
    assert digest == ring.recovery_code_digest(42, "abcd-efgh")
    assert len(digest) == 32


def test_recovery_code_digest_is_hmac_under_the_recovery_subkey(ring: KeyRing) -> None:
    code = b"abcd-efgh"
    message = struct.pack(">QI", 42, len(code)) + code
    subkey = hkdf(KEY_A, b"twofold recovery-code v1")
    expected = hmac.new(subkey, message, hashlib.sha256).digest()
    assert ring.recovery_code_digest(42, "abcd-efgh") == expected


def test_recovery_code_digest_differs_by_user_id(ring: KeyRing) -> None:
    assert ring.recovery_code_digest(1, "abcd") != ring.recovery_code_digest(2, "abcd")


def test_recovery_code_digest_differs_by_code(ring: KeyRing) -> None:
    assert ring.recovery_code_digest(1, "abcd") != ring.recovery_code_digest(1, "abce")


def test_recovery_code_digest_differs_by_kid() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k1")
    assert ring.recovery_code_digest(1, "abcd", kid="k1") != ring.recovery_code_digest(
        1, "abcd", kid="k2"
    )


def test_recovery_code_digest_defaults_to_the_primary_kid() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B}, primary_kid="k2")
    assert ring.recovery_code_digest(1, "abcd") == ring.recovery_code_digest(1, "abcd", kid="k2")


def test_recovery_code_digest_encoding_is_unambiguous(ring: KeyRing) -> None:
    assert ring.recovery_code_digest(1, "12") != ring.recovery_code_digest(11, "2")


def test_recovery_code_subkey_is_not_the_sealing_csrf_or_session_key(ring: KeyRing) -> None:
    code = b"abcd"
    message = struct.pack(">QI", 7, len(code)) + code
    digest = ring.recovery_code_digest(7, "abcd")
    other_keys = [
        KEY_A,
        ring.csrf_key(),
        ring.session_key(),
        hkdf(KEY_A, b"twofold seal v1"),
        hkdf(KEY_A, b"twofold fingerprint v1"),
    ]
    for key in other_keys:
        assert hmac.new(key, message, hashlib.sha256).digest() != digest
    assert hkdf(KEY_A, b"twofold recovery-code v1") not in other_keys


def test_recovery_code_digest_with_an_unknown_kid_raises_key_ring_error(ring: KeyRing) -> None:
    with pytest.raises(KeyRingError, match="'k9'"):
        ring.recovery_code_digest(1, "abcd", kid="k9")


@pytest.mark.parametrize(
    ("user_id", "code", "error"),
    [(-1, "abcd", ValueError), (2**63, "abcd", ValueError), (1, "", ValueError)],
    ids=["negative-user-id", "huge-user-id", "empty-code"],
)
def test_recovery_code_digest_rejects_bad_input(
    ring: KeyRing, user_id: int, code: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        ring.recovery_code_digest(user_id, code)


def test_recovery_code_digest_rejects_a_bool_user_id(ring: KeyRing) -> None:
    with pytest.raises(TypeError, match="user_id"):
        ring.recovery_code_digest(True, "abcd")


def test_recovery_code_digests_cover_every_key_primary_first() -> None:
    ring = KeyRing(keys={"k1": KEY_A, "k2": KEY_B, "k3": bytes(32)}, primary_kid="k2")
    digests = ring.recovery_code_digests(5, "abcd")
    assert [kid for kid, _ in digests] == ["k2", "k1", "k3"]
    for kid, digest in digests:
        assert digest == ring.recovery_code_digest(5, "abcd", kid=kid)


def test_csrf_and_session_keys_follow_the_primary_and_differ() -> None:
    ring = KeyRing(keys={"k1": KEY_A}, primary_kid="k1")
    rotated = KeyRing(keys={"k2": KEY_B, "k1": KEY_A}, primary_kid="k2")
    assert ring.csrf_key() == hkdf(KEY_A, b"twofold csrf v1")
    assert ring.session_key() == hkdf(KEY_A, b"twofold session v1")
    assert ring.csrf_key() != ring.session_key()
    assert rotated.csrf_key() == hkdf(KEY_B, b"twofold csrf v1")


# --- key file ------------------------------------------------------------------------------


@posix_only
def test_key_file_is_created_with_mode_600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "secret.keys"
    ring, created = load_or_create_key_file(path)
    assert created is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.parse(path.read_text()) == ring


def test_second_load_reads_the_same_ring(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    first, _ = load_or_create_key_file(path)
    second, created = load_or_create_key_file(path)
    assert created is False
    assert second == first
    assert second.fingerprints() == first.fingerprints()


@posix_only
def test_a_group_or_world_readable_key_file_is_refused_with_chmod_advice(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    path.write_text(f"k1:{b64url(KEY_A)}\n")
    path.chmod(0o644)
    with pytest.raises(KeyRingError, match="chmod 600"):
        load_or_create_key_file(path)


def test_a_malformed_key_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    path.write_text("not a key ring\n")
    path.chmod(0o600)
    with pytest.raises(KeyRingError, match=re.escape(str(path))):
        load_or_create_key_file(path)


def test_an_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    path.write_text(f"# mine\nk7:{b64url(KEY_B)}\n")
    path.chmod(0o600)
    ring, created = load_or_create_key_file(path)
    assert created is False
    assert ring.primary_kid == "k7"
    assert path.read_text() == f"# mine\nk7:{b64url(KEY_B)}\n"


@posix_only
def test_a_key_file_being_written_by_a_concurrent_starter_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret.keys"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    empty_file_seen = threading.Event()
    read_text = key_file._read_private_text

    def reading(at: Path) -> str:
        text = read_text(at)
        if not text:
            empty_file_seen.set()
        return text

    monkeypatch.setattr(key_file, "_read_private_text", reading)

    def finish_writing() -> None:
        # The other starter writes only once the reader has found the file still empty.
        empty_file_seen.wait(timeout=10)
        os.write(fd, f"k5:{b64url(KEY_B)}\n".encode())
        os.close(fd)

    writer = threading.Thread(target=finish_writing)
    writer.start()
    try:
        ring, created = load_or_create_key_file(path)
    finally:
        writer.join()
    assert empty_file_seen.is_set()
    assert created is False
    assert ring.keys == {"k5": KEY_B}


@posix_only
def test_a_fifo_at_the_key_path_is_refused_without_hanging(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    os.mkfifo(path, 0o600)
    with pytest.raises(KeyRingError, match="not a regular file"):
        load_or_create_key_file(path)


def test_concurrent_starters_all_get_the_same_ring(tmp_path: Path) -> None:
    path = tmp_path / "secret.keys"
    results: list[tuple[KeyRing, bool]] = []

    def start() -> None:
        results.append(load_or_create_key_file(path))

    starters = [threading.Thread(target=start) for _ in range(8)]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert len(results) == 8
    assert sum(created for _, created in results) == 1
    assert len({ring.to_text() for ring, _ in results}) == 1
    assert KeyRing.parse(path.read_text()).to_text() == results[0][0].to_text()


# --- tokens and comparison -----------------------------------------------------------------


def test_new_token_has_at_least_256_bits() -> None:
    token = new_token()
    assert len(token) >= 43
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert new_token() != token


def test_new_token_refuses_fewer_than_16_bytes() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        new_token(8)


def test_token_digest_is_sha256_of_the_token() -> None:
    assert token_digest("abc") == hashlib.sha256(b"abc").digest()


def test_constant_time_equals_compares_bytes_and_text_alike() -> None:
    assert constant_time_equals(b"abc", b"abc")
    assert constant_time_equals("abc", b"abc")
    assert constant_time_equals("żółw", "żółw")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals(b"abc", b"abcd")


# --- password hashing ----------------------------------------------------------------------


def test_password_hash_is_argon2id(hasher: PasswordHasher) -> None:
    assert hasher.hash("correct horse").startswith("$argon2id$")


def test_password_verify_accepts_the_right_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "correct horse") is True


def test_password_verify_rejects_a_wrong_password(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "battery staple") is False


@pytest.mark.parametrize(
    "stored",
    ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$garbage", "$2b$12$abcdefghijklmnopqrstuv", "ä"],
)
def test_password_verify_returns_false_for_a_malformed_hash(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(stored, "correct horse") is False


def test_needs_rehash_is_false_for_a_hash_with_the_current_params(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash(hasher.hash("pw")) is False


def test_needs_rehash_is_true_for_a_hash_made_with_other_params(hasher: PasswordHasher) -> None:
    other = PasswordHasher(PasswordHashingParams(time_cost=2, memory_cost_kib=16, parallelism=1))
    assert hasher.needs_rehash(other.hash("pw")) is True


def test_needs_rehash_is_true_for_a_malformed_hash(hasher: PasswordHasher) -> None:
    assert hasher.needs_rehash("not a hash") is True


def test_verify_dummy_is_always_false(hasher: PasswordHasher) -> None:
    assert hasher.verify_dummy("correct horse") is False
    assert hasher.verify_dummy("") is False


def test_password_hashing_params_default_to_interactive_login_costs() -> None:
    params = PasswordHashingParams()
    assert (params.time_cost, params.memory_cost_kib, params.parallelism) == (3, 65536, 4)


@pytest.mark.parametrize(
    "kwargs",
    [{"time_cost": 0}, {"parallelism": 0}, {"memory_cost_kib": 8, "parallelism": 2}],
    ids=["zero-time", "zero-parallelism", "memory-below-argon2-minimum"],
)
def test_invalid_password_hashing_params_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        PasswordHashingParams(**kwargs)
