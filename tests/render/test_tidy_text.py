"""`tidy_text` does what its plain form (each search with `in`) does, for any text."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mailengine.render.text_part import tidy_text


def plain_tidy(text: str) -> str:
    if " \n" in text or "\t\n" in text:
        text = re.sub(r"[ \t]+\n", "\n", text)
    if "\n\n\n" in text:
        text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


@given(st.lists(st.sampled_from(["a", "€", " ", "\t", "\n", "x y", "\n\n\n", " \n", "\t\n"])))
def test_tidy_text_is_its_plain_form(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert tidy_text(text) == plain_tidy(text)
