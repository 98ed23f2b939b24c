"""privacyIDEA 3.x beside Twofold, for bench/service.py (issue 13).

Installs privacyIDEA from PyPI into its own venv (BENCH_PI_VENV, default
/work/bench-venvs/privacyidea; created when missing, never committed), then configures a
fresh one on the same database kind as Twofold's run (PostgreSQL, database
`bench_privacyidea`): pi.cfg with fresh secret keys, `pi-manage setup create_enckey`,
`create_audit_keys`, `create_tables`, an admin, a flat-file (passwd) resolver with the
people, a realm, and one TOTP token per person with a known secret (made in-process with
privacyIDEA's own `init_token`; its API would take minutes at its speed). Each token's fail
counter limit is raised (`set_maxfail`) so wrong codes do not lock it. Served by gunicorn with
the same number of worker processes as Twofold.

Its replay rule: a TOTP token stores the last step that matched (otp counter) and refuses a
code whose step is not after it (`res <= oCount` in totptoken.check_otp) — the same rule as
ours. Its window: `timeWindow` seconds, searched as steps [now - w, now + w) with
w = timeWindow / 30; the default 180 s checks 12 steps, so the tokens are made with
timeWindow 60 (steps now-2 .. now+1), the nearest to our ±1.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

from benchlib import free_port, running, wait_http
from twofold.otp.hotp import hotp

VENV = Path(os.environ.get("BENCH_PI_VENV", "/work/bench-venvs/privacyidea"))
REQUIREMENT = "privacyidea>=3.10,<4"
DATABASE = "bench_privacyidea"
REALM = "benchrealm"
NOTE = (
    "privacyIDEA: {version} from PyPI, gunicorn (sync workers), PostgreSQL, its default "
    "configuration except: TOTP tokens with timeWindow 60 (steps now-2..now+1; the default "
    "180 s checks 12 steps) and max fail count 1,000,000 (the default 10 would lock a token "
    "after ten wrong codes). Its audit log is on and signed (default), as ours is on. "
    "Replay rule: a step at or before the token's last matched step is refused — ours too."
)


class Unavailable(Exception):
    """privacyIDEA could not be installed or started; the report says why."""


def pi_secret(n: int) -> bytes:
    return f"privacyidea-bench-{n:08d}".encode()[:20].ljust(20, b"0")


def ensure_venv() -> Path:
    """The venv's python, installing privacyIDEA, gunicorn and psycopg2 when missing."""
    python = VENV / "bin" / "python"
    if (VENV / "bin" / "pi-manage").exists() and (VENV / "bin" / "gunicorn").exists():
        return python
    uv = Path(sys.executable).parent / "uv"
    try:
        if uv.exists():
            subprocess.run([str(uv), "venv", "--python", sys.executable, str(VENV)], check=True)
            install = [str(uv), "pip", "install", "--python", str(python)]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            install = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*install, REQUIREMENT, "gunicorn", "psycopg2-binary"], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise Unavailable(f"installing {REQUIREMENT} failed: {exc}") from exc
    return python


def version(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('privacyidea'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"privacyidea {out.stdout.strip() or '?'}"


TOKENS_SCRIPT = textwrap.dedent(
    """
    import sys
    from privacyidea.app import create_app
    from privacyidea.lib.token import init_token
    from privacyidea.lib.user import User
    from privacyidea.models import db

    config, realm, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = create_app(config_name="production", config_file=config, silent=True)
    with app.app_context():
        for n in range(count):
            key = f"privacyidea-bench-{n:08d}".encode()[:20].ljust(20, b"0").hex()
            token = init_token(
                {"type": "totp", "otpkey": key, "genkey": 0, "otplen": 6,
                 "timeStep": 30, "timeWindow": 60, "hashlib": "sha1",
                 "serial": f"BENCH{n:08d}"},
                user=User(f"p{n:06d}", realm),
            )
            token.set_maxfail(1000000)
            token.save()
            if n % 200 == 0:
                print(f"privacyIDEA tokens: {n}/{count}", file=sys.stderr, flush=True)
        db.session.commit()
    """
)


@contextlib.contextmanager
def serving(workdir: Path, workers: int, people: int) -> Iterator[tuple[int, int, Path]]:
    """A configured privacyIDEA under gunicorn: (port, gunicorn's pid, wrk data file)."""
    from service import fresh_database  # the same helper as Twofold's database

    people = min(people, 300 if os.environ.get("BENCH_QUICK") else 2000)
    python = ensure_venv()
    bin_dir = python.parent
    home = workdir / "privacyidea"
    home.mkdir(exist_ok=True)
    url = fresh_database(DATABASE).replace("postgresql+psycopg:", "postgresql+psycopg2:")
    config = home / "pi.cfg"
    config.write_text(
        textwrap.dedent(
            f"""
            SQLALCHEMY_DATABASE_URI = {url!r}
            SECRET_KEY = {secrets.token_hex(32)!r}
            PI_PEPPER = {secrets.token_hex(32)!r}
            PI_ENCFILE = {str(home / "enckey")!r}
            PI_AUDIT_KEY_PRIVATE = {str(home / "private.pem")!r}
            PI_AUDIT_KEY_PUBLIC = {str(home / "public.pem")!r}
            PI_LOGFILE = {str(home / "privacyidea.log")!r}
            PI_LOGLEVEL = 30
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PRIVACYIDEA_CONFIGFILE"] = str(config)
    manage = str(bin_dir / "pi-manage")

    def run(*args: str) -> None:
        done = subprocess.run([manage, *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise Unavailable(f"pi-manage {' '.join(args[:2])} failed: {done.stderr[-500:]}")

    passwd = home / "users.passwd"
    passwd.write_text(
        "".join(
            f"p{n:06d}:x:{10000 + n}:1000:Person {n}:/home/p{n}:/bin/sh\n" for n in range(people)
        )
    )
    resolver = home / "resolver.conf"
    resolver.write_text(repr({"fileName": str(passwd)}))
    run("setup", "create_enckey")
    run("setup", "create_audit_keys")
    run("setup", "create_tables")
    run("admin", "add", "admin", "-p", secrets.token_urlsafe(16))
    run("config", "resolver", "create", "benchusers", "passwdresolver", str(resolver))
    run("config", "realm", "create", REALM, "benchusers")
    run("config", "realm", "set_default", REALM)
    made = subprocess.run(
        [str(python), "-c", TOKENS_SCRIPT, str(config), REALM, str(people)],
        env=env,
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise Unavailable(f"making the tokens failed: {made.stderr[-800:]}")
    datafile = home / "codes.txt"
    first = int(time.time()) // 30 - 1
    steps = 40
    with datafile.open("w") as out:
        out.write(f"KEYS {REALM}\n")
        for n in range(people):
            codes = " ".join(hotp(pi_secret(n), step) for step in range(first, first + steps))
            out.write(f"p{n:06d} {first} {codes}\n")
    port = free_port()
    app = f"privacyidea.app:create_app(config_name='production', config_file='{config}')"
    command = [
        str(bin_dir / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        app,
    ]
    with running(command, env, home / "gunicorn.log", cwd=home) as process:
        wait_http(port, "/", timeout=120)
        time.sleep(1.0)
        yield port, process.pid, datafile
