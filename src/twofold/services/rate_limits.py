"""Request-rate limits, counted in one place (decision 0023): per client address, per
organization API key, per OpenID Connect client at the token endpoint.

Counted with the `limits` library in fixed windows: one INCR (with its EXPIRE, one Lua
script, one round trip) per request, one integer per limited thing. With TWOFOLD_REDIS_URL
every process shares the counts; without it, or while Redis does not answer, each process
counts on its own (limits' memory storage): a warning is logged once per outage, and Redis
is tried again after core.rate_limits.REDIS_RETRY on the runtime's clock."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime
from urllib.parse import urlsplit

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from twofold.core import words
from twofold.core.errors import RequestRateLimited
from twofold.core.rate_limits import REDIS_RETRY, Rate, Scope, per_minute
from twofold.core.words import translate
from twofold.otp.clock import Clock

log = logging.getLogger("twofold.rate_limits")

# A Redis that does not answer within this costs a request at most this much, once per
# REDIS_RETRY: then the process counts on its own.
REDIS_TIMEOUT_SECONDS = 0.5
_REDIS_FAILURES = (StorageError, RedisError, OSError)


def redis_location(url: str) -> str:
    """Where Redis is, for a log line: host, port and database, never the password."""
    parts = urlsplit(url)
    if parts.scheme.endswith("unix"):
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname or 'localhost'}:{port}{parts.path or '/0'}"


class _MemoryStorage(MemoryStorage):
    """limits' memory storage without its expiry thread. Its `incr` starts a new
    threading.Timer whenever the last one has run (10 ms later), so nearly every request of
    a process without Redis started a thread: ~0.2 ms of CPU each. A window over is dropped
    when its key is next read (MemoryStorage.get does that already), and the keys nobody
    asks for again are swept here every SWEEP_EVERY counts."""

    SWEEP_EVERY = 1024

    def __init__(self) -> None:
        super().__init__()
        self.timer.cancel()  # the one its constructor starts
        self._counted = 0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.get(key)
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = time.time() + expiry
            count = self.storage.get(key, 0)
        self._counted += 1
        if self._counted % self.SWEEP_EVERY == 0:
            self._sweep()
        return count

    def _sweep(self) -> None:
        now = time.time()
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)
                self.locks.pop(key, None)


class RequestLimits:
    """The limits of one server process. Thread-safe: the routes' thread pool shares it."""

    def __init__(
        self,
        *,
        clock: Clock,
        per_address: Rate | None,
        per_client: Rate | None,
        redis_url: str | None = None,
        key_prefix: str = "twofold",
    ) -> None:
        self.clock = clock
        self.per_address = _item(per_address)
        self.per_client = _item(per_client)
        self._memory = FixedWindowRateLimiter(_MemoryStorage())
        self._redis: FixedWindowRateLimiter | None = None
        self._storage: RedisStorage | None = None
        self.redis_where = redis_location(redis_url) if redis_url else None
        if redis_url:
            # No connection is made here: a Redis that is down at start is an outage like
            # any other, not a refused start.
            self._storage = RedisStorage(
                redis_url,
                key_prefix=f"{key_prefix}:rate",
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=None,  # type: ignore[arg-type]  # fail over at once, not after retries
            )
            self._redis = FixedWindowRateLimiter(self._storage)
        self._lock = threading.Lock()
        self._redis_down_until: datetime | None = None

    # -- what the pages, the API and the OIDC provider ask ---------------------------------

    def claim_address(self, address: str | None) -> int | None:
        """Count one request from `address`; None if it may go on, else the seconds until
        its window ends (for Retry-After). An unknown address is not limited."""
        if self.per_address is None or not address:
            return None
        return self._claim(self.per_address, Scope.ADDRESS, address)

    def claim_api_key(self, key_id: int, requests_per_minute: int) -> int | None:
        """Count one request through the API key: its own requests_per_minute."""
        rate = per_minute(requests_per_minute)
        item = RateLimitItemPerSecond(rate.amount, rate.seconds)
        return self._claim(item, Scope.API_KEY, str(key_id))

    def claim_oidc_client(self, client_id: str) -> int | None:
        """Count one token request of the client."""
        if self.per_client is None:
            return None
        return self._claim(self.per_client, Scope.OIDC_CLIENT, client_id)

    def check(self, scope: Scope, retry_after: int | None) -> None:
        """Raise RequestRateLimited for a refused claim."""
        if retry_after is not None:
            raise RequestRateLimited(scope.value, retry_after)

    # -- Redis -----------------------------------------------------------------------------

    @property
    def shares_counts(self) -> bool:
        """True when the next claim goes to Redis (a network round trip)."""
        return self._live_redis() is not None

    def redis_state(self) -> str | None:
        """None without Redis; "ok" when it answers a PING now, else "not answering". A
        PING that answers ends a fallback at once; one that does not begins one."""
        if self._storage is None:
            return None
        try:
            answered = bool(self._storage.get_connection().ping())
        except _REDIS_FAILURES as exc:
            self._redis_failed(exc)
            return "not answering"
        if not answered:
            return "not answering"
        self._redis_answered()
        return "ok"

    def close(self) -> None:
        if self._storage is not None:
            self._storage.storage.close()  # the redis.Redis client and its pool

    # -- counting --------------------------------------------------------------------------

    def _claim(self, item: RateLimitItem, scope: Scope, identifier: str) -> int | None:
        limiter = self._live_redis()
        if limiter is not None:
            try:
                verdict = _hit(limiter, item, scope, identifier)
            except _REDIS_FAILURES as exc:
                self._redis_failed(exc)
            else:
                self._redis_answered()
                return verdict
        return _hit(self._memory, item, scope, identifier)

    def _live_redis(self) -> FixedWindowRateLimiter | None:
        if self._redis is None:
            return None
        down_until = self._redis_down_until
        if down_until is not None and self.clock.now() < down_until:
            return None
        return self._redis

    def _redis_failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._redis_down_until is None
            self._redis_down_until = self.clock.now() + REDIS_RETRY
        if first:
            cause = exc.__cause__ or exc
            log.warning(
                "%s",
                translate(
                    words.REDIS_NOT_ANSWERING(
                        where=self.redis_where or "",
                        error=type(cause).__name__,
                        seconds=int(REDIS_RETRY.total_seconds()),
                    )
                ),
            )

    def _redis_answered(self) -> None:
        if self._redis_down_until is None:
            return
        with self._lock:
            was_down = self._redis_down_until is not None
            self._redis_down_until = None
        if was_down:
            log.warning("%s", translate(words.REDIS_ANSWERS_AGAIN(where=self.redis_where or "")))


def _item(rate: Rate | None) -> RateLimitItem | None:
    return None if rate is None else RateLimitItemPerSecond(rate.amount, rate.seconds)


def _hit(
    limiter: FixedWindowRateLimiter, item: RateLimitItem, scope: Scope, identifier: str
) -> int | None:
    """One request counted; None, or the seconds until the window ends. `limits` keeps its
    windows on the wall clock (its storages read time.time()), so the wait is measured on it
    too."""
    if limiter.hit(item, scope.value, identifier):
        return None
    reset = limiter.get_window_stats(item, scope.value, identifier).reset_time
    return max(1, math.ceil(reset - time.time()))
