from __future__ import annotations

import pytest

from control_api.core.export import csv_cell


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_formula_starts_are_neutralised(cell: str) -> None:
    assert csv_cell(cell) == f"'{cell}"


@pytest.mark.parametrize(
    ("value", "cell"),
    [(None, ""), ("ast_1", "ast_1"), ("a=1", "a=1"), (12, "12"), ("2026-03-01T10:00:00Z",) * 2],
)
def test_other_cells_are_as_is(value: object, cell: str) -> None:
    assert csv_cell(value) == cell
