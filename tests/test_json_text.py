"""`json_text`: compact JSON that reads back as the value it was written from, big integers
(which orjson refuses) included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mailengine.json_text import json_bytes, json_text

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_reads_back_as_the_value(value: Any) -> None:
    assert json.loads(json_text(value)) == value
    assert json.loads(json_bytes(value).decode()) == value


def test_compact_utf8_and_big_integers() -> None:
    assert json_text({"name": "Zoë", "n": [1, 2]}) == '{"name":"Zoë","n":[1,2]}'
    assert json_bytes({"name": "Zoë"}) == '{"name":"Zoë"}'.encode()
    assert json_text({"id": 2**70, "é": 1}) == '{"id":1180591620717411303424,"\\u00e9":1}'
    assert json.loads(json_bytes(["\ud800"])) == ["\ud800"]  # a lone surrogate, escaped
