"""Redocly's linter finds no error in the served document (warnings are printed).

Redocly CLI is pinned in tools/openapi/package.json and installed by
scripts/bootstrap into tools/openapi/node_modules. Absent, the test skips; in CI
(``CI`` or ``LOMUZ_CI`` set) it fails instead.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.control_api.conftest import Api

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / "tools" / "openapi"
REDOCLY = TOOLS / "node_modules" / ".bin" / "redocly"


def in_ci() -> bool:
    return os.environ.get("LOMUZ_CI") == "1" or os.environ.get("CI", "").lower() in ("1", "true")


def node_tool(path: Path) -> Path:
    """The tool's path; skip when absent, fail in CI (bootstrap installs it there)."""
    if path.exists():
        return path
    message = f"{path.relative_to(REPO)} is not installed (scripts/bootstrap runs npm ci)"
    if in_ci():
        pytest.fail(f"{message}: CI needs it")
    pytest.skip(message)


def test_redocly_lint_reports_no_error(api: Api, tmp_path: Path) -> None:
    redocly = node_tool(REDOCLY)
    served = api.call("GET", "/v1/openapi.json")
    assert served.status_code == 200
    document = tmp_path / "openapi.json"
    document.write_text(served.text, encoding="utf-8")
    env = {
        **os.environ,
        "REDOCLY_TELEMETRY": "off",  # no usage reports from tests
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
        "NO_COLOR": "1",
    }
    run = subprocess.run(
        [
            str(redocly),
            "lint",
            str(document),
            "--format=json",
            "--config",
            str(TOOLS / "redocly.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    report = json.loads(run.stdout)
    problems = [
        f"{p['severity']}: {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report["problems"]
    ]
    print("\n".join(["redocly lint:", *problems]))  # the warnings, in the test's output
    errors = [p for p in problems if p.startswith("error")]
    assert report["totals"]["errors"] == 0, "\n".join(errors)
    assert run.returncode == 0, run.stderr
