"""Prometheus metrics of the control API (``GET /metrics``).

Built on prometheus_client. Each ``Metrics`` owns its registry (no global
default registry: tests build many apps in one process). When
``PROMETHEUS_MULTIPROC_DIR`` is set in the environment before the process
starts (production runs several workers), values live in that directory's mmap
files and ``render`` aggregates every worker's. The directory must be emptied
when the server (re)starts, before the workers fork.

Labels stay bounded: requests are labelled by route *template* (never the raw
path), unknown routes by ``"unmatched"``, unusual methods by ``"OTHER"``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["MANIFEST_KINDS", "Metrics", "MetricsMiddleware"]

MANIFEST_KINDS = frozenset({"full", "delta", "not_modified"})
UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# The 304 manifest path answers in about a millisecond; default buckets start at 5 ms.
_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_START_KEY = "lomuz_metrics_started_s"


class Metrics:
    """The API's counters and histograms, and their exposition."""

    def __init__(self) -> None:
        self.multiprocess_dir: str | None = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "lomuz_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "lomuz_http_request_duration_seconds",
            "Time to build an HTTP response (body streaming excluded), by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._manifests = Counter(
            "lomuz_manifests_served",
            "Device manifest responses by kind: full, delta or not_modified (304).",
            ["kind"],
            registry=self.registry,
        )
        self._plays = Counter(
            "lomuz_plays_ingested",
            "Proof-of-play records accepted (duplicates excluded).",
            registry=self.registry,
        )
        for kind in sorted(MANIFEST_KINDS):
            self._manifests.labels(kind=kind)
        self.middleware = MetricsMiddleware(self)

    def observe_request(self, route: str, method: str, status: int, duration_s: float) -> None:
        """Count one answered request and its latency."""
        method = method if method in _METHODS else "OTHER"
        self._requests.labels(route=route, method=method, status=str(status)).inc()
        self._latency.labels(route=route, method=method).observe(max(0.0, duration_s))

    def manifest_served(self, kind: str) -> None:
        """Count a manifest response; ``kind`` is "full", "delta" or "not_modified"."""
        if kind not in MANIFEST_KINDS:
            raise ValueError(f"manifest kind must be one of {sorted(MANIFEST_KINDS)}, got {kind!r}")
        self._manifests.labels(kind=kind).inc()

    def plays_ingested(self, n: int) -> None:
        """Count ``n`` newly accepted plays."""
        if n < 0:
            raise ValueError(f"plays ingested must be >= 0, got {n}")
        if n:
            self._plays.inc(n)

    def render(self, gauges: Mapping[str, float]) -> tuple[bytes, str]:
        """The exposition body and its content type.

        ``gauges`` are values computed by the caller at scrape time (e.g.
        ``lomuz_devices_total``, ``lomuz_devices_online``); names must be valid
        Prometheus metric names.
        """
        for name in gauges:
            if _METRIC_NAME_RE.fullmatch(name) is None:
                raise ValueError(f"not a valid Prometheus metric name: {name!r}")
        if self.multiprocess_dir is not None:
            source = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(source, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            body = generate_latest(source)
        else:
            body = generate_latest(self.registry)
        if gauges:
            scraped = CollectorRegistry(auto_describe=True)
            scraped.register(_ScrapeTimeGauges(gauges))
            body += generate_latest(scraped)
        return body, CONTENT_TYPE_LATEST


class _ScrapeTimeGauges:
    def __init__(self, gauges: Mapping[str, float]) -> None:
        self._gauges = dict(gauges)

    def collect(self) -> list[Metric]:
        families: list[Metric] = []
        for name, value in sorted(self._gauges.items()):
            family = GaugeMetricFamily(name, f"{name} (computed at scrape time).")
            family.add_metric([], float(value))
            families.append(family)
        return families


class MetricsMiddleware:
    """Falcon middleware: counts every request and times it (body streaming excluded)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context[_START_KEY] = time.perf_counter()

    def process_response(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: Any,
        req_succeeded: bool,
    ) -> None:
        started_s = req.context.get(_START_KEY)
        duration_s = 0.0 if started_s is None else time.perf_counter() - started_s
        route = req.uri_template or UNMATCHED_ROUTE
        self._metrics.observe_request(route, req.method, resp.status_code, duration_s)
