"""`twofold serve` as a separate process, without paying for Python's start-up each time.

A test that needs a real server process (the browser, attack, crash, proxy and housekeeping
tests) used to start the `twofold` script: a new interpreter that imports SQLAlchemy,
FastAPI and every Twofold module again, about 1.3 s of CPU before it serves anything, and the
suite starts some seventy of them. Here each pytest worker keeps one multiprocessing
fork server that has imported all of that once; every server is a fork of it that sets its
own environment, points its output where the test asked and runs the same Typer command as
the script (`twofold.cli.main.app`): its own process, database connections, signals and exit
status, so a crash test can still SIGKILL it at a crash point. What the script itself does
(its entry point, its interpreter start) stays covered by tests/cli/test_cli.py and
test_serve_config.py, which run the script.

`launch` answers with the part of `subprocess.Popen` these tests use."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from collections.abc import Sequence
from multiprocessing import reduction
from typing import IO, Any

# Imported once in the fork server; everything `twofold serve` imports comes with these.
_PRELOAD = ["twofold.cli.main", "twofold.web.app", "uvicorn"]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(_PRELOAD)

PIPE = subprocess.PIPE


class _PassedFd:
    """A file descriptor handed to the forked process with the process object itself."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _received_fd, (reduction.DupFd(self.fd),)  # type: ignore[attr-defined]


def _received_fd(duplicate: Any) -> int:
    fd: int = duplicate.detach()
    return fd


def _run_twofold(argv: list[str], env: dict[str, str], output: int) -> None:
    """In the forked process: the environment and output the test gave, then the command."""
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    # No standard input, as a service has: /dev/null on descriptor 0, which processes this
    # one spawns inherit (uvicorn's workers reopen it; multiprocessing's own stand-in for
    # stdin is a descriptor they do not get).
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(env)
    from twofold.cli.main import app
    from twofold.services import crash_points

    crash_points.arm_from_environment()  # read at import, in the fork server
    app(args=argv, prog_name="twofold")


class Launched:
    """A started `twofold` command, answering like subprocess.Popen."""

    def __init__(self, args: list[str], process: Any, stdout: IO[str] | None) -> None:
        self.args = args
        self._process = process
        self.stdout = stdout

    @property
    def pid(self) -> int:
        pid: int = self._process.pid
        return pid

    @property
    def returncode(self) -> int | None:
        code: int | None = self._process.exitcode
        return code

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        code: int = self._process.exitcode
        return code

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        """All the output (PIPE only), once the process has ended (a command's output is a
        few lines: far less than the pipe holds while it runs)."""
        assert self.stdout is not None
        self.wait(timeout)
        output = self.stdout.read()
        self.stdout.close()
        return output, None

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


def launch(argv: Sequence[str], *, env: dict[str, str], stdout: int | IO[Any] = PIPE) -> Launched:
    """`twofold ARGV…` with exactly `env` as its environment. Output (stdout and stderr
    together) goes to the file `stdout`, or with PIPE to the returned `.stdout`, read as
    text; like the script, the process has no standard input."""
    args = ["twofold", *argv]
    if stdout is PIPE:
        read_end, write_end = os.pipe()
    else:
        assert not isinstance(stdout, int)
        read_end, write_end = None, os.dup(stdout.fileno())
    try:
        process = _CONTEXT.Process(
            target=_run_twofold,
            args=(list(argv), dict(env), _PassedFd(write_end)),
            name=" ".join(args),
            daemon=False,
        )
        process.start()
    finally:
        os.close(write_end)  # the forked process has its own copy
    reader = None if read_end is None else open(read_end, encoding="utf-8", errors="replace")  # noqa: SIM115
    return Launched(args, process, reader)
