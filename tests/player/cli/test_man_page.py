"""The man page lists every command and option ``build_parser()`` has (and no other)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from player.cli import build_parser

MAN_PAGE = Path(__file__).resolve().parents[3] / "packaging" / "player" / "lomuz-player.1"


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^\.SH (.+)$", text, flags=re.MULTILINE)
    return {name.strip('"'): body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def entries(section: str) -> dict[str, str]:
    """``.TP`` entries by their first word (the command), each the entry's head line."""
    found: dict[str, str] = {}
    for block in section.split(".TP\n")[1:]:
        head = block.splitlines()[0]
        words = re.sub(r"^\.(B|BI|BR|I)\s+", "", head).strip('"').split()
        found[words[0]] = head
    return found


def unroff(text: str) -> str:
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace('"', "")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_subcommand_and_no_other_has_an_entry() -> None:
    commands = entries(sections(MAN_PAGE.read_text())["COMMANDS"])
    assert set(commands) == set(subcommands())


def test_every_option_and_argument_is_in_its_commands_synopsis() -> None:
    commands = entries(sections(MAN_PAGE.read_text())["COMMANDS"])
    missing = []
    for name, parser in subcommands().items():
        head = unroff(commands[name])
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            shown = action.option_strings or [action.metavar or action.dest]
            for text in shown:
                if not re.search(rf"(?<![\w-]){re.escape(str(text))}(?![\w-])", head):
                    missing.append(f"{name} {text}")
            if action.option_strings and action.metavar and action.metavar not in head:
                missing.append(f"{name} {action.option_strings[0]} {action.metavar}")
    assert missing == []


def test_every_global_option_is_documented() -> None:
    options = unroff(sections(MAN_PAGE.read_text())["OPTIONS"])
    for action in build_parser()._actions:
        for text in action.option_strings:
            assert text in options, text
