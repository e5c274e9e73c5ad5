"""Prometheus metrics of the control API (``GET /metrics``).

Built on prometheus_client. Each ``Metrics`` owns its registry (no global
default registry: tests build many apps in one process).

Several workers (granian ``--workers 2``): every worker counts only what it
answered, so ``/metrics`` must add up all of them, whichever worker takes the
scrape. prometheus_client does that in its multiprocess mode, which it picks
*when it is imported*: ``PROMETHEUS_MULTIPROC_DIR`` must be in the environment
before the process starts (the systemd unit sets it to its RuntimeDirectory,
which systemd creates empty at each start and removes at each stop). Values
then live in that directory's per-pid mmap files, and ``render`` exposes only
what ``MultiProcessCollector`` aggregates from them — never this process's own
registry, which would show one worker. A variable set after the import is
refused (``Metrics`` raises) instead of silently counting one worker.

- Counters only go up; dead workers' files stay until the service restarts, so
  totals never drop while it runs.
- The build-info gauge uses ``multiprocess_mode="max"`` (every worker writes 1;
  the "live*" modes would need ``mark_process_dead``, which granian never
  calls).
- Device gauges are computed at scrape time from the database, outside the
  multiprocess files.
- Process metrics (CPU, memory, fds, start time) are read at scrape time from
  ``/proc/<pid>/stat`` of every worker that has files in the directory,
  labelled ``pid``. ``/proc/stat`` is not needed (the unit's ``ProcSubset=pid``
  hides it, which makes prometheus_client's own ``ProcessCollector`` empty).

Labels stay bounded: requests are labelled by route *template* — the OpenAPI
path template when the route is documented (``/v1/devices/{id}``), never the
raw path — unknown routes by ``"unmatched"``, unusual methods by ``"OTHER"``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from control_api import __version__

__all__ = [
    "MANIFEST_KINDS",
    "SCRAPE_GAUGES",
    "Metrics",
    "MetricsMiddleware",
    "ProcessStats",
    "parse_proc_stat",
    "route_label",
]

MANIFEST_KINDS = frozenset({"full", "delta", "not_modified"})
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed", "lost")
# control_api.services.measurements.OUTCOMES (a test keeps them equal).
LOUDNESS_OUTCOMES = ("measured", "unchanged", "retry", "failed", "lost")
UNMATCHED_ROUTE = "unmatched"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_PARAM_RE = re.compile(r"\{[^{}]*\}")
_WORKER_FILE_RE = re.compile(r"_(\d+)\.db$")
# The 304 manifest path answers in about a millisecond; default buckets start at 5 ms.
_LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_START_KEY = "lomuz_metrics_started_s"

SCRAPE_GAUGES: Mapping[str, str] = {
    "lomuz_devices": "Devices registered, all tenants (read from the database at scrape time).",
    "lomuz_devices_online": (
        "Devices that called the API within the last 3 telemetry intervals, all tenants "
        "(read from the database at scrape time)."
    ),
}


def route_label(uri_template: str | None, documented: Mapping[str, str]) -> str:
    """The ``route`` label of a request.

    ``documented`` maps a template's shape (parameters blanked, see
    ``_shape``) to the OpenAPI path template; Falcon's ``{device_id}`` becomes
    the OpenAPI ``{id}``. Undocumented routes keep their Falcon template; no
    route at all is ``"unmatched"``.
    """
    if not uri_template:
        return UNMATCHED_ROUTE
    return documented.get(_shape(uri_template), uri_template)


def _shape(template: str) -> str:
    return _PARAM_RE.sub("{}", template)


@dataclass(frozen=True)
class ProcessStats:
    """One process as ``/proc/<pid>/stat`` tells it. Seconds, bytes, Unix time."""

    cpu_s: float
    resident_bytes: int
    virtual_bytes: int
    start_time_s: float


def parse_proc_stat(
    raw: bytes, *, ticks_per_s: float, page_bytes: int, boot_time_s: float
) -> ProcessStats:
    """Parse ``/proc/<pid>/stat`` (proc(5)); ``boot_time_s`` is when the host booted."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw.rsplit(b")", 1)[-1].split()
    # fields[0] is field 3 (state): field N of proc(5) is fields[N - 3].
    utime, stime = int(fields[11]), int(fields[12])
    start_ticks, vsize, rss_pages = int(fields[19]), int(fields[20]), int(fields[21])
    return ProcessStats(
        cpu_s=(utime + stime) / ticks_per_s,
        resident_bytes=rss_pages * page_bytes,
        virtual_bytes=vsize,
        start_time_s=boot_time_s + start_ticks / ticks_per_s,
    )


def _multiprocess_values() -> bool:
    """Whether prometheus_client chose mmap-backed values (decided at its import)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


PRESENCE_OUTCOMES = (
    "recorded",
    "unchanged",
    "unknown_device",
    "bad_payload",
    "bad_topic",
    "dropped",
    "failed",
)


class Metrics:
    """The API's counters and histograms, and their exposition.

    ``route_templates`` are the documented (OpenAPI) path templates that the
    ``route`` label uses; ``version`` goes to ``lomuz_control_build_info``.
    """

    def __init__(
        self,
        *,
        route_templates: Iterable[str] = (),
        version: str = __version__,
        proc_dir: Path = Path("/proc"),
    ) -> None:
        self.multiprocess_dir: str | None = os.environ.get(MULTIPROC_ENV) or None
        if self.multiprocess_dir is not None and not _multiprocess_values():
            raise RuntimeError(
                f"{MULTIPROC_ENV}={self.multiprocess_dir} was set after prometheus_client was "
                "imported, so this process would count only its own requests: set it in the "
                "environment before the server starts (the systemd unit does)"
            )
        if self.multiprocess_dir is None and _multiprocess_values():
            raise RuntimeError(
                f"prometheus_client is in multiprocess mode but {MULTIPROC_ENV} is now unset"
            )
        if self.multiprocess_dir is not None:
            # Normally the unit's RuntimeDirectory= (created empty at each start);
            # created here for servers started by hand with the variable set.
            Path(self.multiprocess_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._documented = {_shape(t): t for t in route_templates}
        self._proc_dir = proc_dir
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "lomuz_http_requests",
            "HTTP requests answered, by route (OpenAPI path template), method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "lomuz_http_request_duration_seconds",
            "Time to build an HTTP response (body streaming excluded), by route and method.",
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
        self._manifests_shared = Counter(
            "lomuz_manifests_shared",
            "Full and delta manifests answered with the plan computed once for the device's "
            "scope between the same two revisions (LOMUZ_MANIFEST_CACHE_ENTRIES).",
            ["kind"],
            registry=self.registry,
        )
        self._plays = Counter(
            "lomuz_plays_ingested",
            "Proof-of-play records accepted from devices (duplicates excluded).",
            registry=self.registry,
        )
        self._nudges = Counter(
            "lomuz_push_nudges",
            "Push nudges to devices by outcome: sent (handed to the broker) or dropped "
            "(broker down or backlog full; the devices still poll).",
            ["outcome"],
            registry=self.registry,
        )
        self._commands = Counter(
            "lomuz_push_commands",
            "Remote commands published to devices by outcome: sent (handed to the broker) "
            "or dropped (no broker or broker down; the devices pick them up at their next sync).",
            ["outcome"],
            registry=self.registry,
        )
        self._webhooks = Counter(
            "lomuz_webhook_deliveries",
            "Webhook delivery attempts by outcome: delivered (2xx), retry (no 2xx, tried "
            "again later), failed (given up), lost (the lease ran out; another sender has it).",
            ["outcome"],
            registry=self.registry,
        )
        self._loudness = Counter(
            "lomuz_loudness_measurements",
            "Loudness measurements of assets by outcome: measured (stored; devices get it), "
            "unchanged (a re-measure found the same), retry (failed; tried again after a "
            "backoff), failed (given up) or lost (the lease ran out; another worker has it).",
            ["outcome"],
            registry=self.registry,
        )
        self._presence = Counter(
            "lomuz_presence_messages",
            "MQTT presence messages this worker received, by outcome: recorded (a "
            "transition stored), unchanged (already stored, e.g. by another worker), "
            "unknown_device, bad_payload, bad_topic, dropped (backlog full) or failed "
            "(database error).",
            ["outcome"],
            registry=self.registry,
        )
        build = Gauge(
            "lomuz_control_build_info",
            "Always 1; the version label is the running control API's version.",
            ["version"],
            multiprocess_mode="max",
            registry=self.registry,
        )
        build.labels(version=version).set(1)
        for kind in sorted(MANIFEST_KINDS):
            self._manifests.labels(kind=kind)
        for kind in ("delta", "full"):
            self._manifests_shared.labels(kind=kind)
        for outcome in ("sent", "dropped"):
            self._nudges.labels(outcome=outcome)
            self._commands.labels(outcome=outcome)
        for outcome in WEBHOOK_OUTCOMES:
            self._webhooks.labels(outcome=outcome)
        for outcome in PRESENCE_OUTCOMES:
            self._presence.labels(outcome=outcome)
        for outcome in LOUDNESS_OUTCOMES:
            self._loudness.labels(outcome=outcome)
        self.middleware = MetricsMiddleware(self)

    def route_label(self, uri_template: str | None) -> str:
        """The ``route`` label for a request routed to ``uri_template`` (None: no route)."""
        return route_label(uri_template, self._documented)

    def observe_request(self, route: str, method: str, status: int, duration_s: float) -> None:
        """Count one answered request and its latency."""
        method = method if method in _METHODS else "OTHER"
        self._requests.labels(route=route, method=method, status=str(status)).inc()
        self._latency.labels(route=route, method=method).observe(max(0.0, duration_s))

    def manifest_served(self, kind: str, *, shared: bool = False) -> None:
        """Count a manifest response; ``kind`` is "full", "delta" or "not_modified";
        ``shared``: answered with its scope's plan."""
        if kind not in MANIFEST_KINDS:
            raise ValueError(f"manifest kind must be one of {sorted(MANIFEST_KINDS)}, got {kind!r}")
        self._manifests.labels(kind=kind).inc()
        if shared and kind != "not_modified":
            self._manifests_shared.labels(kind=kind).inc()

    def plays_ingested(self, n: int) -> None:
        """Count ``n`` newly accepted plays."""
        if n < 0:
            raise ValueError(f"plays ingested must be >= 0, got {n}")
        if n:
            self._plays.inc(n)

    def nudges(self, *, sent: int, dropped: int) -> None:
        """Count push nudges handed to the broker and nudges dropped."""
        if sent:
            self._nudges.labels(outcome="sent").inc(sent)
        if dropped:
            self._nudges.labels(outcome="dropped").inc(dropped)

    def command_published(self, sent: bool) -> None:
        """Count one remote command handed to the broker, or dropped."""
        self._commands.labels(outcome="sent" if sent else "dropped").inc()

    def webhook_attempt(self, outcome: str) -> None:
        """Count one webhook delivery attempt by its outcome (``WEBHOOK_OUTCOMES``)."""
        if outcome not in WEBHOOK_OUTCOMES:
            raise ValueError(f"webhook outcome must be one of {WEBHOOK_OUTCOMES}, got {outcome!r}")
        self._webhooks.labels(outcome=outcome).inc()

    def loudness_measurement(self, outcome: str) -> None:
        """Count one measuring attempt by its outcome (``LOUDNESS_OUTCOMES``)."""
        if outcome not in LOUDNESS_OUTCOMES:
            raise ValueError(
                f"loudness outcome must be one of {LOUDNESS_OUTCOMES}, got {outcome!r}"
            )
        self._loudness.labels(outcome=outcome).inc()

    def presence_message(self, outcome: str) -> None:
        """Count one presence message by its outcome (one of :data:`PRESENCE_OUTCOMES`)."""
        if outcome not in PRESENCE_OUTCOMES:
            raise ValueError(
                f"presence outcome must be one of {PRESENCE_OUTCOMES}, got {outcome!r}"
            )
        self._presence.labels(outcome=outcome).inc()

    def render(self, gauges: Mapping[str, float]) -> tuple[bytes, str]:
        """The exposition body (all workers' values) and its content type.

        ``gauges`` are values the caller computed at scrape time; their names
        must be in ``SCRAPE_GAUGES`` (which holds their HELP text).
        """
        scraped: dict[str, float] = {}
        for name, value in gauges.items():
            if _METRIC_NAME_RE.fullmatch(name) is None:
                raise ValueError(f"not a valid Prometheus metric name: {name!r}")
            if name not in SCRAPE_GAUGES:
                raise ValueError(f"unknown scrape-time gauge {name!r}: add it to SCRAPE_GAUGES")
            scraped[name] = float(value)
        if self.multiprocess_dir is not None:
            source = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(source, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            body = generate_latest(source)
        else:
            body = generate_latest(self.registry)
        extra = CollectorRegistry(auto_describe=True)
        extra.register(_ScrapeTimeGauges(scraped))
        extra.register(_WorkerProcesses(self._worker_pids, self._proc_dir))
        return body + generate_latest(extra), CONTENT_TYPE_LATEST

    def _worker_pids(self) -> list[int]:
        if self.multiprocess_dir is None:
            return [os.getpid()]
        pids = set()
        for entry in os.listdir(self.multiprocess_dir):
            match = _WORKER_FILE_RE.search(entry)
            if match is not None:
                pids.add(int(match.group(1)))
        return sorted(pids)


class _ScrapeTimeGauges:
    def __init__(self, gauges: Mapping[str, float]) -> None:
        self._gauges = dict(gauges)

    def collect(self) -> list[Metric]:
        families: list[Metric] = []
        for name, value in sorted(self._gauges.items()):
            family = GaugeMetricFamily(name, SCRAPE_GAUGES[name])
            family.add_metric([], value)
            families.append(family)
        return families


class _WorkerProcesses:
    """process_* metrics of each live worker, labelled ``pid``."""

    def __init__(self, pids: Callable[[], list[int]], proc_dir: Path) -> None:
        self._pids = pids
        self._proc_dir = proc_dir

    def collect(self) -> Iterator[Metric]:
        what = "of each control API worker process"
        cpu = CounterMetricFamily(
            "process_cpu_seconds", f"User and system CPU time {what}, in seconds.", labels=["pid"]
        )
        rss = GaugeMetricFamily(
            "process_resident_memory_bytes", f"Resident memory {what}.", labels=["pid"]
        )
        vms = GaugeMetricFamily(
            "process_virtual_memory_bytes", f"Virtual memory size {what}.", labels=["pid"]
        )
        started = GaugeMetricFamily(
            "process_start_time_seconds", f"Start time {what} (Unix time).", labels=["pid"]
        )
        fds = GaugeMetricFamily(
            "process_open_fds", f"Open file descriptors {what}.", labels=["pid"]
        )
        ticks_per_s = float(os.sysconf("SC_CLK_TCK"))
        page_bytes = os.sysconf("SC_PAGE_SIZE")
        boot_time_s = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        for pid in self._pids():
            proc = self._proc_dir / str(pid)
            try:
                stats = parse_proc_stat(
                    (proc / "stat").read_bytes(),
                    ticks_per_s=ticks_per_s,
                    page_bytes=page_bytes,
                    boot_time_s=boot_time_s,
                )
                open_fds = len(os.listdir(proc / "fd"))
            except (OSError, IndexError, ValueError):
                continue  # the worker is gone (or /proc is not Linux's): no series for it
            label = [str(pid)]
            cpu.add_metric(label, stats.cpu_s)
            rss.add_metric(label, stats.resident_bytes)
            vms.add_metric(label, stats.virtual_bytes)
            started.add_metric(label, stats.start_time_s)
            fds.add_metric(label, open_fds)
        yield from (cpu, rss, vms, started, fds)


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
        route = self._metrics.route_label(req.uri_template)
        self._metrics.observe_request(route, req.method, resp.status_code, duration_s)
