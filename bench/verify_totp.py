"""Benchmarks: TOTP verification (the maths, and the whole second step on SQLite), and the
time of a password check for a known versus an unknown login (the dummy hash).

The core figure (issue 13): our verification (±1 window and the replay rule) against pyotp
and against the floor of three bare one-shot `hmac.digest` calls, measured interleaved in
one run; the target is ours ≤ 1.25x the floor.

    .venv/bin/python bench/verify_totp.py              # full
    BENCH_QUICK=1 .venv/bin/python bench/verify_totp.py  # smoke run

`make bench` runs it with the others (bench/README.md).
"""

from __future__ import annotations

import contextlib
import hmac
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyotp

from benchlib import QUICK, machine
from twofold.core.errors import InvalidCredentials
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret, generate_secret
from twofold.otp.totp import TotpParams, verify_totp
from twofold.services import account, second_factor, signin, users
from twofold.services.runtime import ClientInfo, build_runtime
from twofold.settings import Settings

PASSWORD = "correct horse battery staple"


def per_call(label: str, fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    median = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
    print(f"| {label} | {repeat} | {median * 1e6:,.1f} µs | {p95 * 1e6:,.1f} µs |")
    return median


CORE_TARGET = 1.25  # ours / the floor (issue 13)


def interleaved(
    contenders: dict[str, Callable[[], object]], rounds: int, batch: int
) -> dict[str, list[float]]:
    """Per-call seconds of each contender, one batch of `batch` calls each in turn, `rounds`
    times: a busy neighbour slows all of them alike, so their ratios stay fair."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(batch):
                fn()
            times[name].append((time.perf_counter() - start) / batch)
    return times


def bench_otp_core() -> dict[str, float]:
    """Ours (the ±1 window and the replay rule, as services call it), pyotp's verify, and
    the floor: three bare one-shot `hmac.digest` calls, the least any ±1-step check of an
    HMAC-SHA-1 code must pay. Returns the medians in µs."""
    secret = generate_secret()
    now = 1_800_000_000
    step = now // 30
    code = pyotp.TOTP(encode_secret(secret)).at(now)
    params = TotpParams()
    counters = [struct.pack(">Q", step + offset) for offset in (-1, 0, 1)]
    pyotp_totp = pyotp.TOTP(encode_secret(secret))

    def floor() -> None:
        digest = hmac.digest
        for counter in counters:
            digest(secret, counter, "sha1")

    def ours() -> None:
        verify_totp(secret, code, now, params, window=1, last_used_step=step - 1)

    def ours_wrong() -> None:
        verify_totp(secret, "000000", now, params, window=1, last_used_step=step - 1)

    def theirs() -> None:
        pyotp_totp.verify(code, for_time=now, valid_window=1)

    assert verify_totp(secret, code, now, params, last_used_step=step - 1).step == step
    rounds = 40 if QUICK else 300
    times = interleaved(
        {
            "floor": floor,
            "ours": ours,
            "ours_wrong": ours_wrong,
            "pyotp": theirs,
        },
        rounds,
        200,
    )
    medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    minima = {name: min(values) * 1e6 for name, values in times.items()}
    labels = {
        "floor": "floor: 3 one-shot hmac.digest (SHA-1)",
        "ours": "otp.verify_totp, right code (±1 step, replay rule)",
        "ours_wrong": "otp.verify_totp, wrong code",
        "pyotp": "pyotp.TOTP.verify (valid_window=1), no replay rule",
    }
    print(f"Interleaved: {rounds} rounds of 200 calls each.\n")
    print("| what | median | best round | median / floor | target | met |")
    print("|---|---|---|---|---|---|")
    for name, label in labels.items():
        ratio = medians[name] / medians["floor"]
        target = met = ""
        if name.startswith("ours"):
            target = f"≤ {CORE_TARGET:.2f}x"
            met = "yes" if ratio <= CORE_TARGET else "no"
        print(
            f"| {label} | {medians[name]:.2f} µs | {minima[name]:.2f} µs | {ratio:.2f}x "
            f"| {target} | {met} |"
        )
    print(f"\npyotp / ours: {medians['pyotp'] / medians['ours']:.1f}x\n")
    return medians


def bench_second_step(data_dir: Path) -> None:
    clock = FixedClock(datetime(2027, 1, 1, tzinfo=UTC))
    settings = Settings(data_dir=data_dir, secret_keys=KeyRing.generate("b1").to_text())
    runtime = build_runtime(settings, clock=clock, hashing=PasswordHashingParams())
    client = ClientInfo(ip="127.0.0.1", user_agent="bench")
    with runtime.db() as db:
        user = users.create_user(db, runtime, login="bench", password=PASSWORD)
        db.commit()
        pending = account.begin_totp_enrollment(db, runtime, user)
        totp = pyotp.TOTP(pending.secret_b32)
        account.confirm_totp_enrollment(db, runtime, user, totp.at(unix_time(clock.now())), client)

    def one_second_step() -> None:
        clock.advance(30)
        with runtime.db() as db:
            started = signin.sign_in_with_password(
                db, runtime, login="bench", password=PASSWORD, client=client
            )
        with runtime.db() as db:
            session = db.merge(started.session)
            t0 = time.perf_counter()
            second_factor.verify_totp(db, runtime, session, totp.at(unix_time(clock.now())), client)
            timings.append(time.perf_counter() - t0)

    timings: list[float] = []
    count = 50 if QUICK else 200
    for _ in range(count):
        one_second_step()
    median = statistics.median(timings)
    p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
    print(
        f"| services.second_factor.verify_totp on SQLite (unseal, verify, conditional "
        f"UPDATE, audit, session rotation, commit) | {count} | {median * 1e6:,.1f} µs "
        f"| {p95 * 1e6:,.1f} µs |"
    )

    def attempt(login: str, password: str) -> Callable[[], object]:
        def run() -> None:
            clock.advance(3600)  # past the throttle's memory, so every attempt is checked
            with runtime.db() as db, contextlib.suppress(InvalidCredentials):
                signin.sign_in_with_password(
                    db, runtime, login=login, password=password, client=client
                )

        return run

    known = per_call(
        "password step, known login, wrong password (argon2id default)",
        attempt("bench", "wrong password here"),
        10 if QUICK else 30,
    )
    unknown = per_call(
        "password step, unknown login (dummy hash)",
        attempt("nobody", "wrong password here"),
        10 if QUICK else 30,
    )
    print(f"\nUnknown/known login time ratio: {unknown / known:.2f}")
    runtime.engine.dispose()


def main() -> None:
    print("## TOTP verification: ours, pyotp and the floor (bench/verify_totp.py)\n")
    for line in machine():
        print(f"- {line}")
    print(f"- Command: {' '.join(['python', *sys.argv])}\n")
    bench_otp_core()
    print("| what | calls | median | p95 |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        bench_second_step(Path(tmp))


if __name__ == "__main__":
    main()
