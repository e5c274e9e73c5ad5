"""The doctor's two outputs: short text lines for a phone screen, and ``--json``."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from player.doctor.model import Check

TEXT_WIDTH = 60


def is_ok(checks: Sequence[Check]) -> bool:
    return all(c.status != "fail" for c in checks)


def render_text(checks: Sequence[Check], width: int = TEXT_WIDTH) -> str:
    """Short lines for a phone screen: ``PASS database  quick_check ok``, fixes indented."""
    lines: list[str] = []
    name_width = max((len(c.name) for c in checks), default=0)
    for check in checks:
        head = f"{check.status.upper():4} {check.name:<{name_width}}  "
        lines.extend(
            textwrap.wrap(
                head + check.summary,
                width=width,
                subsequent_indent=" " * len(head),
                break_long_words=True,
            )
        )
        if check.fix:
            lines.extend(
                textwrap.wrap(
                    "-> " + check.fix,
                    width=width,
                    initial_indent="     ",
                    subsequent_indent="        ",
                    break_long_words=True,
                )
            )
    counts = {s: sum(1 for c in checks if c.status == s) for s in ("pass", "warn", "fail")}
    verdict = "OK" if is_ok(checks) else "FAILED"
    lines.append(f"{verdict}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines) + "\n"


def render_json(checks: Sequence[Check]) -> dict[str, Any]:
    return {"ok": is_ok(checks), "checks": [c.to_json() for c in checks]}
