"""Benchmark (issue 13): Twofold as a service on PostgreSQL, side by side with privacyIDEA.

One run, on this machine, under one loopback load generator (wrk, bench/load.lua):

- `POST /api/v1/verify` with a right code and with a wrong one, at concurrency 16 and 64;
- the framework ceiling: the same route without an API key (401 — the full middleware
  stack, routing and body parsing, no database);
- `GET /auth/forward` with a valid session;
- privacyIDEA 3.x `POST /validate/check` (right and wrong codes), same worker count, same
  database kind (bench/privacyidea.py installs it into its own venv);
- verify latency with 10k, 100k and 1M people (seeded in bulk with COPY), and 1 -> 2
  processes with where the CPU went.

Each run has a fresh database `bench_service` (and `bench_privacyidea`) on the local
PostgreSQL. Wrong codes never lock anyone: they go round robin over thousands of people and
several API keys, so no (key, person) budget nears its limit (10) nor any person the hard
stop (100); the keys are made with `--per-minute 100000` (the product's setting for it).

    .venv/bin/python bench/service.py                   # full (about 15 minutes)
    BENCH_QUICK=1 .venv/bin/python bench/service.py     # smoke run: 10k people, 4 s loads
    BENCH_WORKERS=2 ...                                 # `twofold serve --workers 2`
    BENCH_SKIP_PRIVACYIDEA=1 ...                        # leave privacyIDEA out

Needs wrk (`apt-get install -y wrk`). Prints a Markdown report on stdout.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select, text

from benchlib import (
    ADMIN_URL,
    QUICK,
    Progress,
    Summary,
    exit_on_sigterm,
    free_port,
    machine,
    ms,
    process_tree_cpu,
    running,
    wait_http,
)
from twofold.core.policy import TwoFactorPolicy
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.hotp import hotp
from twofold.services import api_keys, organizations, signin, users
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.services.totp_secrets import seal_secret
from twofold.settings import Settings
from twofold.store.models import Organization

HERE = Path(__file__).resolve().parent
LOAD_SCRIPT = HERE / "load.lua"
DATABASE = "bench_service"
ORG = "bench"
KEYS = 4  # wrong codes rotate over them: the per-(key, person) budget is 4x as far away
PASSWORD = "correct horse battery staple"
DURATION = 4 if QUICK else 15
SIZES = [10_000] if QUICK else [10_000, 100_000, 1_000_000]
ACTIVE = 10_000  # people the load picks codes for (sampled from all the seeded ones)
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
CONCURRENCIES = (16, 64)
THREADS = 2
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
COPY_BATCH = 20_000


def bench_secret(n: int) -> bytes:
    """Person n's TOTP secret: derived, so the load generator can compute their codes."""
    return hashlib.sha256(f"twofold-bench:{n}".encode()).digest()[:20]


def login_of(n: int) -> str:
    return f"u{n:07d}"


# --- the database -------------------------------------------------------------------------


def fresh_database(name: str) -> str:
    """Drop and create `name` (only bench_* names) on the local PostgreSQL; its URL."""
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to recreate {name!r}: benchmark databases are bench_*")
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def twofold_env(database_url: str, secret_keys: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFOLD_")}
    env |= {
        "TWOFOLD_DATABASE_URL": database_url,
        "TWOFOLD_SECRET_KEYS": secret_keys,
        "TWOFOLD_DATA_DIR": str(data_dir),
        # The load comes from one address (loopback): the per-address request limit
        # (decision 0023) would answer it 429 and measure the limit, not the service. The
        # verify rows are counted per API key as in production (keys of 100,000/minute).
        "TWOFOLD_RATE_LIMIT_PER_IP": "off",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), env.get("PYTHONPATH", "")]),
    }
    if os.environ.get("TWOFOLD_REDIS_URL"):
        env["TWOFOLD_REDIS_URL"] = os.environ["TWOFOLD_REDIS_URL"]
    return env


def twofold_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from twofold.cli.main import main; main()", *args]


@dataclass
class Base:
    """What the load needs from the seeded database."""

    org_id: int
    keys: list[str]
    session_token: str


def seed_base(runtime: Runtime) -> Base:
    """The organization, its API keys (raised rate), and one signed-in person (no 2FA:
    optional policy) for /auth/forward."""
    client = ClientInfo(ip="127.0.0.1", user_agent="bench")
    with runtime.db() as db:
        organizations.create_organization(
            db,
            runtime,
            slug=ORG,
            name="Bench",
            two_factor=TwoFactorPolicy.OPTIONAL,
            signup_open=False,
        )
        users.create_user(db, runtime, login="forward", password=PASSWORD, organization_slug=ORG)
        db.commit()
        keys = [
            api_keys.create_key(
                db,
                runtime,
                ORG,
                name=f"bench {n}",
                requests_per_minute=api_keys.MAX_REQUESTS_PER_MINUTE,
            ).secret
            for n in range(KEYS)
        ]
        org_id = db.scalar(select(Organization.id).where(Organization.slug == ORG))
        assert org_id is not None
    with runtime.db() as db:
        started = signin.sign_in_with_password(
            db, runtime, login="forward", password=PASSWORD, client=client
        )
        token = started.token
    return Base(org_id, keys, token)


def _copy(cursor: object, statement: str, rows: Iterator[tuple[object, ...]]) -> None:
    with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row(row)


def seed_people(runtime: Runtime, org_id: int, first: int, stop: int) -> None:
    """People first..stop-1 (ids, logins u0000001…), each a member of the organization with
    a confirmed authenticator app, by COPY in batches: one precomputed password hash, each
    secret sealed to its person as the product seals it. A progress bar on stderr."""
    password_hash = runtime.hasher.hash(PASSWORD)
    created = NOW.isoformat(sep=" ")
    progress = Progress(f"seeding people {first:,}..{stop - 1:,}", stop - first)
    offset = 1_000_000_000  # ids of their own, clear of the ids the services hand out
    with runtime.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        for start in range(first, stop, COPY_BATCH):
            end = min(stop, start + COPY_BATCH)
            numbers = range(start, end)
            _copy(
                cursor,
                "COPY users (id, login, password_hash, is_superadmin, is_active, created_at, "
                "failed_code_count, key_failed_code_count) FROM STDIN",
                (
                    (offset + n, login_of(n), password_hash, False, True, created, 0, 0)
                    for n in numbers
                ),
            )
            _copy(
                cursor,
                "COPY memberships (user_id, organization_id, role, created_at) FROM STDIN",
                ((offset + n, org_id, "member", created) for n in numbers),
            )
            sealed = ((n, *seal_secret(runtime.keys, bench_secret(n), offset + n)) for n in numbers)
            _copy(
                cursor,
                "COPY authenticators (user_id, kind, secret_kid, secret_sealed, algorithm, "
                "digits, period, created_at, confirmed_at, name) FROM STDIN",
                (
                    (offset + n, "totp", kid, blob, "SHA1", 6, 30, created, created, "App")
                    for n, kid, blob in sealed
                ),
            )
            raw.commit()
            progress.advance(end - start)
        cursor.execute("ANALYZE users")
        cursor.execute("ANALYZE memberships")
        cursor.execute("ANALYZE authenticators")
        raw.commit()


def write_codes(path: Path, keys: list[str], people: list[int], steps: int) -> None:
    """The load generator's data file (bench/load.lua): the keys, then per person their
    codes from the step before now on, `steps` steps."""
    first = int(time.time()) // 30 - 1
    out = io.StringIO()
    out.write("KEYS " + " ".join(keys) + "\n")
    for n in people:
        secret = bench_secret(n)
        codes = " ".join(hotp(secret, step) for step in range(first, first + steps))
        out.write(f"{login_of(n)} {first} {codes}\n")
    path.write_text(out.getvalue())


def sample(size: int, count: int, shift: int = 0) -> list[int]:
    """`count` people spread evenly over 1..size (so the big sizes' load touches the whole
    index, not only its start). A `shift` picks each one's neighbour instead: people whose
    codes near now no earlier row has used (a second load on the same people within a
    minute would send replays, refused and counted as errors)."""
    count = min(count, size)
    return [min(size, 1 + (i * size) // count + shift) for i in range(count)]


# --- the load -------------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    concurrency: int
    summary: Summary
    server_cpu: float  # CPU seconds of the server's processes during the load
    loadgen_cpu: float  # CPU seconds of wrk
    machine_busy: float  # CPU seconds the whole machine spent (all processes)

    def row(self) -> str:
        s = self.summary
        return (
            f"| {self.name} | {self.concurrency} | {s.per_second:,.0f} | {ms(s.p50)} "
            f"| {ms(s.p99)} | {s.errors} |"
        )


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat, all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def wrk(
    name: str,
    port: int,
    path: str,
    concurrency: int,
    args: list[str],
    *,
    server_pid: int,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """One bounded wrk run; errors are socket errors, timeouts and unexpected answers."""
    command = [
        "wrk",
        f"-t{min(THREADS, concurrency)}",
        f"-c{concurrency}",
        f"-d{DURATION}s",
        "--timeout",
        "10s",
        "-s",
        str(LOAD_SCRIPT),
    ]
    for header, value in (headers or {}).items():
        command += ["-H", f"{header}: {value}"]
    command += [f"http://127.0.0.1:{port}{path}", "--", *args]
    server_before = process_tree_cpu(server_pid)
    busy_before = machine_cpu_seconds()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        process = subprocess.Popen(command, stdout=out_file, stderr=err_file)
        _, status, usage = os.wait4(process.pid, 0)
        out_file.seek(0)
        err_file.seek(0)
        out = out_file.read().decode()
        err = err_file.read().decode()
    busy = machine_cpu_seconds() - busy_before
    server = process_tree_cpu(server_pid) - server_before
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if status != 0 or line is None:
        raise SystemExit(f"wrk failed ({status}): {out}\n{err}")
    return LoadResult(
        name,
        concurrency,
        parse_wrk(line),
        server,
        usage.ru_utime + usage.ru_stime,
        busy,
    )


def parse_wrk(line: str) -> Summary:
    """The summary from load.lua's BENCH line: requests/s counts the expected answers."""
    data = json.loads(line.removeprefix("BENCH "))
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    errors = data["unexpected"] + data["exhausted"] + socket_errors
    good = max(0, data["answered"] - data["unexpected"] - data["exhausted"])
    return Summary(
        requests=good,
        errors=errors,
        seconds=data["seconds"],
        p50=data["p50_us"] / 1e6,
        p99=data["p99_us"] / 1e6,
    )


@contextlib.contextmanager
def twofold_server(env: dict[str, str], workers: int, log: Path) -> Iterator[tuple[int, int]]:
    """`twofold serve` with `workers` processes; (port, pid)."""
    port = free_port()
    command = twofold_command("serve", "--port", str(port))
    if workers > 1:
        command += ["--workers", str(workers)]
    with running(command, env, log) as process:
        wait_http(port, "/healthz")
        time.sleep(1.0)  # let every worker finish starting
        yield port, process.pid


def serve_supports_workers(env: dict[str, str]) -> bool:
    helptext = subprocess.run(
        twofold_command("serve", "--help"), env=env, capture_output=True, text=True, check=False
    ).stdout
    return "--workers" in helptext


def cpu_row(result: LoadResult) -> str:
    """Where the machine's cores went during one load."""
    busy = max(result.machine_busy, 1e-9)
    other = max(0.0, busy - result.server_cpu - result.loadgen_cpu)
    cores = os.cpu_count() or 1
    seconds = result.summary.seconds or DURATION
    return (
        f"| {result.name} | {result.concurrency} | {result.summary.per_second:,.0f} "
        f"| {result.server_cpu / seconds:.2f} | {result.loadgen_cpu / seconds:.2f} "
        f"| {other / seconds:.2f} | {busy / seconds:.2f} of {cores} |"
    )


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    exit_on_sigterm()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    print("## Service: POST /api/v1/verify, /auth/forward, privacyIDEA (bench/service.py)\n")
    for line in machine():
        print(f"- {line}")
    print(f"- Command: {'BENCH_QUICK=1 ' if QUICK else ''}python bench/service.py")
    print(
        f"- Load: wrk -t{THREADS}, {DURATION} s per row, loopback; worker processes: {WORKERS}; "
        f"database: PostgreSQL (fresh `{DATABASE}`)"
        + ("; Redis: TWOFOLD_REDIS_URL" if os.environ.get("TWOFOLD_REDIS_URL") else "")
        + "\n"
    )
    database_url = fresh_database(DATABASE)
    secret_keys = KeyRing.generate("bench").to_text()
    with tempfile.TemporaryDirectory(prefix="twofold-bench-") as scratch:
        workdir = Path(scratch)
        env = twofold_env(database_url, secret_keys, workdir)
        subprocess.run(twofold_command("migrate"), env=env, check=True, capture_output=True)
        settings = Settings(data_dir=workdir, database_url=database_url, secret_keys=secret_keys)
        runtime = build_runtime(settings, hashing=PasswordHashingParams())
        base = seed_base(runtime)
        seeded = 1
        results: list[LoadResult] = []
        scale: list[tuple[int, LoadResult]] = []
        steps = (10 * DURATION + 120) // 30 + 4  # the steps one size's loads can reach
        datafile = workdir / "codes.txt"
        for size in SIZES:
            seed_people(runtime, base.org_id, seeded, size + 1)
            seeded = size + 1
            write_codes(datafile, base.keys, sample(size, ACTIVE), steps)
            verify_args = [str(datafile), str(THREADS)]
            with twofold_server(env, WORKERS, workdir / "serve.log") as (port, pid):
                first = size == SIZES[0]
                for concurrency in CONCURRENCIES if first else (16,):
                    right = wrk(
                        "verify, right code",
                        port,
                        "/api/v1/verify",
                        concurrency,
                        ["right", *verify_args],
                        server_pid=pid,
                    )
                    if concurrency == 16:
                        scale.append((size, right))
                    if not first:
                        continue
                    results.append(right)
                    results.append(
                        wrk(
                            "verify, wrong code",
                            port,
                            "/api/v1/verify",
                            concurrency,
                            ["wrong", *verify_args],
                            server_pid=pid,
                        )
                    )
                    results.append(
                        wrk(
                            "ceiling: POST /api/v1/verify without a key (401, no database)",
                            port,
                            "/api/v1/verify",
                            concurrency,
                            ["plain", "401", "POST", '{"user":"nobody","code":"123456"}'],
                            server_pid=pid,
                            headers={"Content-Type": "application/json"},
                        )
                    )
                    results.append(
                        wrk(
                            "GET /auth/forward, valid session",
                            port,
                            "/auth/forward",
                            concurrency,
                            ["plain", "200", "GET"],
                            server_pid=pid,
                            headers={"Cookie": f"twofold_session={base.session_token}"},
                        )
                    )
        two: list[LoadResult] = []
        two_note = ""
        if WORKERS == 1 and serve_supports_workers(env):
            with twofold_server(env, 2, workdir / "serve2.log") as (port, pid):
                for shift, concurrency in enumerate(CONCURRENCIES, start=1):
                    write_codes(datafile, base.keys, sample(SIZES[-1], ACTIVE, shift), steps)
                    two.append(
                        wrk(
                            "verify, right code, 2 processes",
                            port,
                            "/api/v1/verify",
                            concurrency,
                            ["right", str(datafile), str(THREADS)],
                            server_pid=pid,
                        )
                    )
        elif WORKERS == 1:
            two_note = (
                "`twofold serve` has no `--workers` on this branch yet (issue 13, branch "
                "`procs`): the 2-process rows are left out."
            )
        runtime.engine.dispose()
        theirs: list[LoadResult] = []
        pi_note = ""
        if os.environ.get("BENCH_SKIP_PRIVACYIDEA"):
            pi_note = "privacyIDEA left out (BENCH_SKIP_PRIVACYIDEA)."
        else:
            import pi_side as pi_bench

            try:
                with pi_bench.serving(workdir, WORKERS, people=ACTIVE) as (port, pid, datafile_pi):
                    for concurrency in CONCURRENCIES:
                        for mode, label in (("pi_right", "right"), ("pi_wrong", "wrong")):
                            theirs.append(
                                wrk(
                                    f"privacyIDEA /validate/check, {label} code",
                                    port,
                                    "/validate/check",
                                    concurrency,
                                    [mode, str(datafile_pi), str(THREADS)],
                                    server_pid=pid,
                                )
                            )
                pi_note = pi_bench.NOTE.format(version=pi_bench.version(pi_bench.ensure_venv()))
            except pi_bench.Unavailable as exc:
                pi_note = f"privacyIDEA could not be run: {exc}"
        report(results, scale, two, two_note, theirs, pi_note)


def report(
    results: list[LoadResult],
    scale: list[tuple[int, LoadResult]],
    two: list[LoadResult],
    two_note: str,
    theirs: list[LoadResult],
    pi_note: str,
) -> None:
    header = "| what | concurrency | requests/s | p50 | p99 | errors |\n|---|---|---|---|---|---|"
    print(f"### Requests (PostgreSQL, {SIZES[0]:,} people)\n")
    print(header)
    for result in [*results, *theirs]:
        print(result.row())
    if pi_note:
        print(f"\n{pi_note}")

    def find(name: str, concurrency: int, pool: list[LoadResult]) -> LoadResult | None:
        return next(
            (r for r in pool if r.name.startswith(name) and r.concurrency == concurrency), None
        )

    print("\n### Targets\n")
    print("| target | figure | met |\n|---|---|---|")
    for concurrency in CONCURRENCIES:
        ours = find("verify, right", concurrency, results)
        ceiling = find("ceiling", concurrency, results)
        pi = find("privacyIDEA /validate/check, right", concurrency, theirs)
        if ours and pi and pi.summary.per_second > 0:
            ratio = ours.summary.per_second / pi.summary.per_second
            print(
                f"| ≥ 50x privacyIDEA's successful checks/s (c{concurrency}) | {ratio:,.1f}x "
                f"| {'yes' if ratio >= 50 else 'no'} |"
            )
        if ours and ceiling and ceiling.summary.per_second > 0:
            ratio = ours.summary.per_second / ceiling.summary.per_second
            print(
                f"| ≥ 0.5x the framework ceiling (c{concurrency}) | {ratio:.2f}x "
                f"| {'yes' if ratio >= 0.5 else 'no'} |"
            )
    ours16 = find("verify, right", 16, results)
    if ours16:
        p99 = ours16.summary.p99
        print(f"| p99 ≤ 20 ms at c16 (right code) | {ms(p99)} | {'yes' if p99 <= 0.02 else 'no'} |")
    errors = sum(r.summary.errors for r in results)
    print(f"| zero errors (our rows) | {errors} | {'yes' if errors == 0 else 'no'} |")
    if scale:
        base = scale[0][1].summary.p50
        print("\n### Scale: verify with a right code, concurrency 16\n")
        print("| people | requests/s | p50 | p99 | p50 / p50 at 10k | errors |")
        print("|---|---|---|---|---|---|")
        for size, result in scale:
            s = result.summary
            print(
                f"| {size:,} | {s.per_second:,.0f} | {ms(s.p50)} | {ms(s.p99)} "
                f"| {s.p50 / base:.2f}x | {s.errors} |"
            )
        print("\nTarget: p50 at 1M within 1.3x of 10k.")
    print("\n### Where the cores went (CPU seconds per second of load)\n")
    print(
        "| what | concurrency | requests/s | server | load generator (wrk) | everything else "
        "| machine busy |\n|---|---|---|---|---|---|---|"
    )
    for result in [*results, *two, *theirs]:
        print(cpu_row(result))
    print(
        "\n'everything else' is PostgreSQL (and Redis) plus whatever else ran on the "
        "machine (other engineers' processes on a shared machine)."
    )
    if two:
        print("\n### 1 -> 2 processes\n")
        print(header)
        for result in two:
            print(result.row())
    if two_note:
        print(f"\n{two_note}")


if __name__ == "__main__":
    main()
