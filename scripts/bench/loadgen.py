"""Bounded HTTP load on loopback: wrk when installed (apt: wrk), else a small threaded client.

``run_load`` cycles through (path, headers) pairs for ``duration_s`` over
``connections`` keep-alive connections and returns requests per second,
latency percentiles and the error count. It always stops by itself.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_load(
    base_url: str,
    requests: list[tuple[str, dict[str, str]]],
    duration_s: float,
    connections: int,
    expect_status: int,
) -> dict[str, Any]:
    if shutil.which("wrk"):
        return _wrk(base_url, requests, duration_s, connections)
    return _threads(base_url, requests, duration_s, min(connections, 16), expect_status)


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk(
    base_url: str, requests: list[tuple[str, dict[str, str]]], duration_s: float, connections: int
) -> dict[str, Any]:
    rows = []
    for path, headers in requests:
        hdrs = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        rows.append(f"  {{{_lua_string(path)}, {{{hdrs}}}}},")
    script = (
        "local reqs = {\n" + "\n".join(rows) + "\n}\n"
        "local i = 0\n"
        "function setup(thread) thread:set('offset', math.random(#reqs)) end\n"
        "function init(args) i = offset or 0 end\n"
        "function request()\n"
        "  i = (i % #reqs) + 1\n"
        "  return wrk.format('GET', reqs[i][1], reqs[i][2])\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        script_path = Path(f.name)
    try:
        cmd = [
            "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
            "--timeout", "5s", "--latency", "-s", str(script_path), base_url,
        ]  # fmt: skip
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration_s + 30, check=True
        )
    finally:
        script_path.unlink()
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_ok.group(1)) if non_ok else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    pct = {}
    for label, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M):
        pct[label] = round(float(value) * _UNITS_MS[unit], 2)
    return {
        "driver": f"wrk -t2 -c{connections}",
        "rps": rps,
        "p50_ms": pct.get("50"),
        "p99_ms": pct.get("99"),
        "errors": errors,
        "raw": out,
    }


def _threads(
    base_url: str,
    requests: list[tuple[str, dict[str, str]]],
    duration_s: float,
    connections: int,
    expect_status: int,
) -> dict[str, Any]:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    deadline = time.monotonic() + duration_s
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        i = n
        try:
            while time.monotonic() < deadline:
                path, headers = requests[i % len(requests)]
                i += 1
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                except (OSError, http.client.HTTPException):
                    errors[n] += 1
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=5)
                    continue
                latencies[n].append((time.perf_counter() - t0) * 1000)
                if resp.status != expect_status:
                    errors[n] += 1
        finally:
            conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + 30)
    elapsed_s = time.monotonic() - started
    all_ms = sorted(x for per in latencies for x in per)
    q = statistics.quantiles(all_ms, n=100) if len(all_ms) > 1 else [0.0] * 99
    return {
        "driver": f"python threads x{connections}",
        "rps": len(all_ms) / elapsed_s,
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "errors": sum(errors),
    }
