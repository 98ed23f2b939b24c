"""Background work a server process does on a timer (sending mail, purging), in one shape."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("twofold.workers")


class PeriodicWorker:
    """A daemon thread that runs `task` every `interval_seconds` until stopped. A failing
    pass is logged and the next one tries again, so one bad row never stops the worker.
    `first_pass_now`: run at start (mail waiting to go) or only after one interval.
    `only_while`: a pass is skipped while it answers False (the process does not hold the
    deployment's lease, services/leases.py)."""

    def __init__(
        self,
        name: str,
        task: Callable[[], object],
        interval_seconds: float,
        *,
        first_pass_now: bool,
        only_while: Callable[[], bool] | None = None,
    ) -> None:
        self._task = task
        self._only_while = only_while
        self._interval = interval_seconds
        self._first_pass_now = first_pass_now
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_pass(self) -> bool:
        """One pass, if this process may do it now; False when it was skipped."""
        if self._only_while is not None and not self._only_while():
            return False
        self._task()
        return True

    def _run(self) -> None:
        if not self._first_pass_now and self._stop.wait(self._interval):
            return
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:  # keep the worker alive; the next pass tries again
                log.exception("%s: pass failed", self._thread.name)
            self._stop.wait(self._interval)
