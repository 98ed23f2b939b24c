"""Prometheus: GET /metrics, the per-request counts, and the multiprocess directory.

/metrics answers only a direct connection from this machine (loopback), a client address
in TWOFOLD_METRICS_ALLOWED (the address web/client_address.py decided), or a request with
`Authorization: Bearer <TWOFOLD_METRICS_TOKEN>`; anyone else gets the same 404 as for any
unknown page (decision 0024). The metrics themselves are defined in services/metrics.py."""

from __future__ import annotations

import hmac
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold import __version__
from twofold.core.client_ip import is_trusted, parse_address
from twofold.services import mail, metrics
from twofold.settings import Settings
from twofold.web.rendering import runtime_of

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram
    from prometheus_client.core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
UNMATCHED = "unmatched"  # no route: the raw path is never a label


def prepare_multiprocess(settings: Settings) -> Path:
    """Before the server starts (and before its workers fork): an empty directory for
    prometheus-client's per-process files, named in PROMETHEUS_MULTIPROC_DIR, which the
    workers inherit. Files of an earlier run are removed: they hold its processes' counts."""
    directory = settings.resolved_metrics_dir
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory.resolve())
    values = sys.modules.get("prometheus_client.values")
    if values is not None:  # imported early after all: choose its mode again, before any count
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]
    return directory


# --- counting requests ----------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's template (`/api/v1/verify`, `/invite/{token}`), never the path a
    client sent; mounts add their prefix (Starlette extends root_path as it descends)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(root_path) :]
    return prefix + template


class RequestMetrics:
    """Pure ASGI middleware: counts each answered request by method, route template and
    status, and its latency. Each label set's child is looked up once per process (a dict
    hit per request instead of prometheus-client's labels(); the verify endpoint is
    benchmarked)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # what the server answers when the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            method = str(scope.get("method", ""))
            self._record(
                method if method in _METHODS else "other",
                route_template(scope, root_path),
                status,
                time.perf_counter() - started,
            )

    def _record(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = metrics.registered().http_requests.labels(method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = metrics.registered().http_duration.labels(method, route)
            self._histograms[(method, route)] = histogram
        histogram.observe(seconds)


# --- who may read /metrics ------------------------------------------------------------------


def may_read_metrics(request: Request, settings: Settings) -> bool:
    """Loopback (a direct connection: no forwarding header that no trusted proxy vouched
    for), an address in TWOFOLD_METRICS_ALLOWED, or the bearer token."""
    address = parse_address(request.client.host) if request.client else None
    if address is not None and address.is_loopback and _direct(request, settings):
        return True
    if is_trusted(address, settings.metrics_networks):
        return True
    return _bearer_matches(request.headers.get("authorization"), settings)


def _direct(request: Request, settings: Settings) -> bool:
    """A loopback peer that forwards a header is a proxy on this machine relaying someone
    else; without TWOFOLD_TRUSTED_PROXIES nothing says who, so it is not 'local'."""
    if settings.proxy_trust:
        return True  # the client address was decided by the trusted proxies rule
    names = {name for name, _value in request.scope.get("headers", [])}
    return not any(header in names for header in _FORWARDING_HEADERS)


def _bearer_matches(header: str | None, settings: Settings) -> bool:
    if settings.metrics_token is None or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    expected = settings.metrics_token.get_secret_value().encode()
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected)


# --- the scrape -----------------------------------------------------------------------------


class _ScrapeTime:
    """Values read when scraped: the mail queue from its table, the version."""

    def __init__(self, queue: mail.QueueState) -> None:
        self.queue = queue

    def collect(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily(
            "twofold_mail_queue_depth", "Emails waiting to be sent (neither sent nor given up)."
        )
        depth.add_metric([], self.queue.waiting)
        oldest = GaugeMetricFamily(
            "twofold_mail_queue_oldest_seconds",
            "How long the oldest waiting email has waited (0 when none waits).",
        )
        oldest.add_metric([], self.queue.oldest_seconds)
        build = GaugeMetricFamily("twofold_build_info", "The running version.", labels=["version"])
        build.add_metric([__version__], 1)
        return [depth, oldest, build]


class _Counted:
    """The counts of this process (prometheus-client's default registry), or of every
    process of the deployment (the multiprocess directory)."""

    def collect(self) -> list[Metric]:
        from prometheus_client import REGISTRY, multiprocess

        metrics.registered()  # every metric is listed from the start, at zero
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            collector = multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
            return list(collector.collect())  # type: ignore[no-untyped-call]
        return list(REGISTRY.collect())


def exposition(queue: mail.QueueState) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counted())
    registry.register(_ScrapeTime(queue))
    return generate_latest(registry), CONTENT_TYPE_LATEST


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    runtime = runtime_of(request)
    if not may_read_metrics(request, runtime.settings):
        raise HTTPException(404)
    body, content_type = exposition(mail.queue_state(runtime))
    return Response(body, media_type=content_type)
