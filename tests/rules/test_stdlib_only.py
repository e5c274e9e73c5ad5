"""lomuz_rules imports the standard library and itself, nothing else.

Both deployables import it (the player's venv has no falcon, the API's
process no libvlc): one third-party import would tie the rules to one side.
import-linter checks player/control_api; this walks every module's syntax
tree, so an import inside a function or under ``TYPE_CHECKING`` counts too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import lomuz_rules

PACKAGE = Path(lomuz_rules.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_roots(source: str, module_name: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in ``source``."""
    found: list[tuple[int, str]] = []
    package_parts = module_name.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolves inside the package
                base = package_parts[: len(package_parts) - node.level + 1]
                found.append((node.lineno, base[0] if base else ""))
            elif node.module is not None:
                found.append((node.lineno, node.module.split(".")[0]))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def foreign_imports(source: str, name: str) -> list[str]:
    allowed = set(sys.stdlib_module_names) | {"__future__", "lomuz_rules"}
    return [
        f"line {line}: {root or '<relative beyond the package>'}"
        for line, root in imported_roots(source, name)
        if root not in allowed
    ]


def test_the_package_has_modules() -> None:
    names = {module_name(path) for path in MODULES}
    assert {"lomuz_rules", "lomuz_rules.model", "lomuz_rules.schedule"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_only_the_stdlib_and_lomuz_rules(path: Path) -> None:
    assert foreign_imports(path.read_text(), module_name(path)) == []


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy\n",
        "from player.core.files import FileState\n",
        "import control_api.core.media_content as mc\n",
        "def f():\n    import msgspec\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from falcon import App\n",
        "from ... import player\n",
    ],
)
def test_the_check_catches_a_foreign_import(source: str) -> None:
    assert foreign_imports(source, "lomuz_rules.schedule") != []


def test_the_check_allows_the_stdlib_and_the_package() -> None:
    source = (
        "from __future__ import annotations\nimport zoneinfo\nfrom collections.abc import Mapping\n"
        "from lomuz_rules.model import Asset\nfrom . import model\nfrom .model import Tier\n"
    )
    assert foreign_imports(source, "lomuz_rules.schedule") == []
