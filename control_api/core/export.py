"""Rules for data leaving the API as files a person opens (the CSV export of plays)."""

from __future__ import annotations

# A spreadsheet takes a cell starting with one of these for a formula (OWASP "CSV
# injection"): a device could send schedule_id "=HYPERLINK(...)". Such a cell gets
# a leading "'", which spreadsheets show as text and hide.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that no spreadsheet evaluates; None is empty."""
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
