"""The technician's commands: ``config``, ``clock reset``, ``doctor``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from player.cli.context import (
    EXIT_OK,
    Context,
    Subparsers,
    daemon_holds_run_lock,
)
from player.errors import PlayerError
from player.settings import mask_secret, settings_as_dict

# --- config ------------------------------------------------------------------


def register_config(sub: Subparsers) -> None:
    p = sub.add_parser("config", help="the effective settings (secrets masked)")
    p.add_argument("--json", action="store_true", help="print the settings as JSON")
    p.set_defaults(handler=_cmd_config)


def _credentials_masked(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        from player.credentials import unreadable_fix

        return {"error": f"unreadable: {exc.strerror or exc}", "fix": unreadable_fix(path)}
    except ValueError as exc:
        return {"error": f"unreadable: {exc}"}
    if not isinstance(data, dict):
        return {"error": "not a JSON object"}
    return {
        k: mask_secret(str(v)) if any(s in k for s in ("token", "secret", "key")) else v
        for k, v in data.items()
    }


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # -18.0: a TOML float (settings refuse inf and nan)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def _toml_line(key: str, value: object) -> str:
    # TOML has no null: an unset optional key is shown commented out.
    return f"# {key} is unset" if value is None else f"{key} = {_toml_value(value)}"


def _cmd_config(args: argparse.Namespace, ctx: Context) -> int:
    shown = settings_as_dict(ctx.settings)
    shown["credentials"] = _credentials_masked(ctx.settings.credentials_path)
    if args.json:
        ctx.print_json(shown)
        return EXIT_OK
    ctx.print(f"# source: {shown.pop('source') or 'none (defaults)'}")
    paths = shown.pop("paths")
    ctx.print("# derived: " + ", ".join(f"{k} {v}" for k, v in paths.items()))
    credentials = shown.pop("credentials")
    tables = {k: v for k, v in shown.items() if isinstance(v, dict)}
    for key, value in shown.items():
        if key not in tables:
            ctx.print(_toml_line(key, value))
    for name, table in tables.items():
        ctx.print(f"\n[{name}]")
        for key, value in table.items():
            ctx.print(_toml_line(key, value))
    ctx.print(f"\n# credentials: {json.dumps(credentials) if credentials else 'none'}")
    return EXIT_OK


# --- clock reset --------------------------------------------------------------


def register_clock(sub: Subparsers) -> None:
    p = sub.add_parser(
        "clock",
        help="clock maintenance: 'clock reset' deletes the persisted clock lower bound",
        description="reset: delete the persisted clock lower bound (the daemon's "
        "'time never goes back' floor), e.g. after a hostile API pinned it in the future. "
        "Refused while the daemon runs: it holds the bound in memory and writes it back.",
    )
    p.add_argument("action", choices=["reset"], metavar="reset")
    p.set_defaults(handler=_cmd_clock)


def _cmd_clock(args: argparse.Namespace, ctx: Context) -> int:
    # Refuse rather than edit under a running daemon: it keeps the bound in
    # memory and persists it again within a minute and at shutdown.
    if ctx.ask_daemon("status", 5.0) is not None or daemon_holds_run_lock(ctx.settings.data_dir):
        raise PlayerError(
            f"a lomuz-player daemon is running on {ctx.settings.data_dir}: stop it first "
            "(systemctl stop lomuz-player), run 'lomuz-player clock reset', then start it"
        )
    with ctx.store_reader() as existing:
        stored = existing.stored_clock_lower_bound() if existing is not None else None
    if not stored:
        ctx.print("no clock lower bound stored: nothing to reset")
        return EXIT_OK
    with ctx.store() as store:
        store.state.set_clock_lower_bound(None)
    ctx.print(
        f"clock lower bound {stored} deleted; the next start trusts the system clock "
        "and the API's Date again"
    )
    return EXIT_OK


# --- doctor ------------------------------------------------------------------


def register_doctor(sub: Subparsers) -> None:
    p = sub.add_parser("doctor", help="field diagnostics: pass/warn/fail, exit 1 on a fail")
    p.add_argument("--json", action="store_true", help='print {"ok", "checks"} as JSON')
    p.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args: argparse.Namespace, ctx: Context) -> int:
    from player.doctor import doctor_command

    return doctor_command(ctx.settings, ctx.environ, args.json, ctx.stdout)
