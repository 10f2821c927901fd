"""JSON text of values that came from JSON (an API body's data, a stored answer), fast.

The standard library's encoder was a quarter of an HTTP worker's CPU under batches of events
(each event's data encoded to check its size, then the group's rows encoded again for the
database). orjson writes the same JSON about ten times faster; it takes integers of up to
64 bits only, so a value holding a larger one (Python's parser keeps any integer) is written
by the standard library instead (ASCII, with escapes: a lone surrogate cannot be UTF-8).
Either way the text is compact (no spaces).

Imports nothing of mailengine.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_bytes(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer over 64 bits, say
        return json.dumps(value, separators=(",", ":")).encode()


def json_text(value: Any) -> str:
    """`value` as compact JSON text."""
    return json_bytes(value).decode()
