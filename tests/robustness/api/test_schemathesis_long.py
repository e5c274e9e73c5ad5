"""The schemathesis run of tests/control_api/openapi/test_schemathesis.py with
many more examples, stateful links off, against a served app. Slow: runs only
with LOMUZ_LONG=1 (LOMUZ_SCHEMATHESIS_EXAMPLES overrides the example count)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.control_api.openapi.test_schemathesis import (
    CHECKS,
    HOSTILE_HOOKS,
    KNOWN_SERVER_BUGS,
    SCHEMATHESIS,
    seed,
    write_config,
)
from tests.robustness.api.conftest import Served

EXAMPLES = int(os.environ.get("LOMUZ_SCHEMATHESIS_EXAMPLES", "200"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("LOMUZ_LONG") != "1", reason="long suite: LOMUZ_LONG=1"),
    pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis CLI not installed"),
    pytest.mark.timeout(1800),
]


def test_served_api_survives_many_generated_requests(served: Served, tmp_path: Path) -> None:
    admin, device, sha256 = seed(served.env.api)
    config = write_config(tmp_path / "schemathesis.toml", admin, device, sha256)
    cmd = [
        str(SCHEMATHESIS), "--config-file", str(config), "run",
        f"http://{served.host}:{served.port}/v1/openapi.json",
        "--checks", CHECKS,
        "--max-examples", str(EXAMPLES),
        "--seed", "7",
        "--request-timeout", "10",
        "--continue-on-failure",
        "--workers", "2",
    ]  # fmt: skip
    for operation_id in KNOWN_SERVER_BUGS:
        cmd += ["--exclude-operation-id", operation_id]
    started = time.monotonic()
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": str(HOSTILE_HOOKS)},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    elapsed_s = time.monotonic() - started
    output = done.stdout + done.stderr
    # The summary (counts per check) goes to the test log for docs/RELIABILITY.md.
    print(f"schemathesis {EXAMPLES} examples/op in {elapsed_s:.0f}s\n{output[-4000:]}")
    assert done.returncode == 0, output[-15000:]
    # Nothing the fuzzing did left orphan files behind.
    assert served.env.temp_files() == []
    assert served.env.orphans() == []
