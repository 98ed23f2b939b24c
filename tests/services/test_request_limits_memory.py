"""The per-process counting of request-rate limits (no Redis): it starts no thread per
request, and windows that are over are dropped, also for keys nobody asks about again."""

from __future__ import annotations

import threading
import time

import pytest

from support import START
from twofold.core.rate_limits import Rate
from twofold.otp.clock import FixedClock
from twofold.services.rate_limits import RequestLimits, _MemoryStorage


def test_counting_without_redis_starts_no_thread_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = RequestLimits(clock=FixedClock(START), per_address=Rate(3, 60), per_client=None)
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def counted_start(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted_start)
    verdicts = []
    for _ in range(4):
        verdicts.append(limits.claim_address("192.0.2.7"))
        time.sleep(0.015)  # longer than the 10 ms after which limits' own timer re-arms
    assert verdicts[:3] == [None, None, None]
    assert verdicts[3] is not None
    assert 1 <= verdicts[3] <= 60
    assert started == []


def test_windows_that_are_over_are_swept_for_keys_never_asked_again() -> None:
    storage = _MemoryStorage()
    storage.incr("gone", expiry=0.001)
    time.sleep(0.01)
    for i in range(_MemoryStorage.SWEEP_EVERY - 1):
        storage.incr(f"live-{i % 3}", expiry=60)
    assert "gone" not in storage.storage
    assert "gone" not in storage.expirations
    assert storage.get("live-0") > 0
