"""What the issue-13 benchmarks share: the quick mode, the machine's description, latency
statistics, a progress bar on stderr, and starting and stopping server processes.

Nothing here measures anything by itself; tests/bench/ checks the arithmetic."""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0 < fraction <= 1) of `samples`: the smallest value
    with at least `fraction` of the samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    """One load run: answered requests, errors, wall time, and latency percentiles (s)."""

    requests: int
    errors: int
    seconds: float
    p50: float
    p99: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def summarize(latencies: Sequence[float], errors: int, seconds: float) -> Summary:
    """Requests/s counts only the answered requests that were not errors."""
    if not latencies:
        return Summary(0, errors, seconds, math.nan, math.nan)
    return Summary(
        len(latencies), errors, seconds, percentile(latencies, 0.5), percentile(latencies, 0.99)
    )


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.1f} ms"


def machine() -> list[str]:
    """Date, CPU, cores, RAM, load and software versions, as lines for the report."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"Machine: {model}, nproc {os.cpu_count()}, RAM {ram}, {platform.machine()}, "
        f"Python {platform.python_version()}",
        f"Load average at start: {load}",
        f"Quick mode (BENCH_QUICK): {'yes' if QUICK else 'no'}",
    ]


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal, else a line per
    tenth), so the report on stdout stays clean."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self._tty = sys.stderr.isatty()
        self._shown = -1

    def advance(self, count: int) -> None:
        self.done += count
        tenth = self.done * 10 // self.total
        if self._tty:
            width = 30
            filled = min(width, self.done * width // self.total)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.done:,}/{self.total:,}"
            )
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif tenth != self._shown:
            self._shown = tenth
            print(f"{self.label}: {self.done:,}/{self.total:,}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    """Until GET `path` answers (any status below 500)."""
    deadline = time.monotonic() + timeout
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise SystemExit(f"nothing answered on port {port} within {timeout:.0f} s")
        time.sleep(0.2)


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process (in a process group of its own), stopped with SIGTERM, then SIGKILL."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl+C, so every server this run started is stopped."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by `pid` and its living descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
    return total


def own_cpu() -> float:
    """CPU seconds (user + system) of this process so far."""
    times = os.times()
    return times.user + times.system
