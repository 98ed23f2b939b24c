"""Benchmarks: TOTP verification (the maths, and the whole second step on SQLite), and the
time of a password check for a known versus an unknown login (the dummy hash).

Run with `make bench`; paste the output into docs/benchmarks.md with the date and machine.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyotp

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


def bench_otp_core() -> None:
    secret = generate_secret()
    now = 1_800_000_000
    code = pyotp.TOTP(encode_secret(secret)).at(now)
    per_call(
        "otp.verify_totp (±1 step, SHA-1)",
        lambda: verify_totp(secret, code, now, TotpParams()),
        20_000,
    )
    per_call(
        "pyotp.TOTP.verify (valid_window=1), for comparison",
        lambda: pyotp.TOTP(encode_secret(secret)).verify(code, for_time=now, valid_window=1),
        20_000,
    )


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
    for _ in range(200):
        one_second_step()
    median = statistics.median(timings)
    p95 = sorted(timings)[int(len(timings) * 0.95) - 1]
    print(
        f"| services.second_factor.verify_totp on SQLite (unseal, verify, conditional "
        f"UPDATE, audit, session rotation, commit) | 200 | {median * 1e6:,.1f} µs "
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
        30,
    )
    unknown = per_call(
        "password step, unknown login (dummy hash)", attempt("nobody", "wrong password here"), 30
    )
    print(f"\nUnknown/known login time ratio: {unknown / known:.2f}")
    runtime.engine.dispose()


def main() -> None:
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    cpu = platform.processor() or platform.machine()
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("Command: make bench\n")
    print("| what | calls | median | p95 |")
    print("|---|---|---|---|")
    bench_otp_core()
    with tempfile.TemporaryDirectory() as tmp:
        bench_second_step(Path(tmp))


if __name__ == "__main__":
    main()
