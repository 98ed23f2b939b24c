"""Benchmark (issue 13): what argon2id costs a sign-in, at the configured cost and at others.

A password sign-in is one argon2id verification (crypto/passwords.py; an unknown login
verifies a dummy hash, the same work). Its time is the bound on sign-ins per second per core:
everything else a sign-in does (a throttle UPDATE, a session row, an audit row) costs about a
millisecond. Reported per cost: the median time of one verification on one core, sign-ins
per second per core, and with one process per core on this machine.

    .venv/bin/python bench/signin_cost.py
    BENCH_QUICK=1 .venv/bin/python bench/signin_cost.py

The configured cost comes from TWOFOLD_ARGON2_TIME_COST / _MEMORY_KIB / _PARALLELISM
(defaults t=3, m=64 MiB, p=4).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from benchlib import QUICK, machine
from twofold.crypto.passwords import PasswordHasher, PasswordHashingParams
from twofold.settings import Settings

PASSWORD = "correct horse battery staple"
RUNS = 5 if QUICK else 20
# (label, time cost, memory KiB, parallelism): ours, and the OWASP / RFC 9106 choices.
COSTS = [
    ("RFC 9106 second choice: t=3, 64 MiB, p=4", 3, 65536, 4),
    ("OWASP: t=2, 19 MiB, p=1", 2, 19456, 1),
    ("OWASP: t=1, 46 MiB, p=1", 1, 47104, 1),
    ("t=1, 64 MiB, p=1", 1, 65536, 1),
    ("t=4, 128 MiB, p=1", 4, 131072, 1),
]


def verify_time(time_cost: int, memory_kib: int, parallelism: int, runs: int) -> float:
    """Median seconds of one argon2id verification at this cost."""
    hasher = PasswordHasher(PasswordHashingParams(time_cost, memory_kib, parallelism))
    stored = hasher.hash(PASSWORD)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _verify_once(params: tuple[int, int, int], stored: str) -> bool:
    return PasswordHasher(PasswordHashingParams(*params)).verify(stored, PASSWORD)


def throughput(params: tuple[int, int, int], processes: int, seconds: float) -> float:
    """Verifications per second with one process per core, all busy for `seconds`."""
    stored = PasswordHasher(PasswordHashingParams(*params)).hash(PASSWORD)
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(_verify_once, [params] * processes, [stored] * processes))  # warm up
        count = max(2, int(seconds / max(verify_time(*params, 1), 1e-3)))
        start = time.perf_counter()
        futures = [pool.submit(_verify_once, params, stored) for _ in range(count * processes)]
        for future in futures:
            future.result()
        return len(futures) / (time.perf_counter() - start)


def main() -> None:
    settings = Settings()
    configured = (
        settings.argon2_time_cost,
        settings.argon2_memory_kib,
        settings.argon2_parallelism,
    )
    cores = os.cpu_count() or 1
    print("## Sign-in cost: argon2id (bench/signin_cost.py)\n")
    for line in machine():
        print(f"- {line}")
    print(f"- Command: {'BENCH_QUICK=1 ' if QUICK else ''}python bench/signin_cost.py\n")
    print(
        f"| cost | one verification (median of {RUNS}) | sign-ins/s per core "
        f"| sign-ins/s, {cores} processes |\n|---|---|---|---|"
    )
    rows = [("configured (TWOFOLD_ARGON2_*): t={}, {} KiB, p={}".format(*configured), *configured)]
    rows += [row for row in COSTS if row[1:] != configured]
    for label, t, m, p in rows:
        one = verify_time(t, m, p, RUNS)
        both = throughput((t, m, p), cores, 2.0 if QUICK else 6.0)
        print(f"| {label} | {one * 1000:,.1f} ms | {1 / one:,.1f} | {both:,.1f} |")
    print(
        "\nReading: an operator who needs S password sign-ins per second at peak needs "
        "S x (one verification) core-seconds per second for hashing alone; pick the largest "
        "cost whose per-core rate times the cores set aside for sign-in covers the peak. "
        "p > 1 spreads one hash over several threads: faster alone, no more sign-ins per "
        "second when every core is busy."
    )


if __name__ == "__main__":
    main()
