"""Enrollment codes as a technician reads and types them."""

from __future__ import annotations

import random
import re

from hypothesis import given
from hypothesis import strategies as st

from control_api.core import enrollment_codes as ec

canonical_codes = st.text(alphabet=ec.ALPHABET, min_size=ec.SYMBOLS, max_size=ec.SYMBOLS)


def test_a_new_code_is_sixteen_crockford_symbols_shown_in_groups_of_four() -> None:
    canonical = ec.new_code(random.Random(7).choice)
    assert ec.is_canonical(canonical)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}", ec.grouped(canonical))
    assert not set("ILOU") & set(ec.ALPHABET)
    assert len(ec.ALPHABET) == 32  # 5 bits a symbol, 80 in all


@given(canonical_codes, st.data())
def test_any_way_a_technician_types_the_code_normalises_to_it(
    canonical: str, data: st.DataObject
) -> None:
    shown = ec.grouped(canonical)
    typed = "".join(
        data.draw(st.sampled_from([c, c.lower()]))
        + data.draw(st.sampled_from(["", " ", "-", "  "]))
        for c in shown.replace("-", "")
    )
    typed = typed.replace("0", data.draw(st.sampled_from(["0", "O", "o"])))
    typed = typed.replace("1", data.draw(st.sampled_from(["1", "I", "i", "L", "l"])))
    assert ec.normalise(typed) == canonical
    assert ec.normalise(f"  {shown}\n") == canonical
    assert ec.candidates(typed)[0] == canonical


@given(st.text())
def test_normalising_anything_never_raises_and_is_idempotent(typed: str) -> None:
    once = ec.normalise(typed)
    assert ec.normalise(once) == once


def test_a_code_of_the_old_format_is_also_tried_as_typed() -> None:
    assert ec.candidates(" aB3dE5gH7jK9mN2p ") == ("AB3DE5GH7JK9MN2P", "aB3dE5gH7jK9mN2p")
    assert ec.candidates("K7QM-3XD9-PB2H-W4TN") == ("K7QM3XD9PB2HW4TN",)
    assert ec.candidates("K7QM3XD9PB2HW4TN") == ("K7QM3XD9PB2HW4TN",)
