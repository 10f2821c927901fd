"""Link keys made together for a message are the keys `read_key` reads back, at any position."""

from __future__ import annotations

import pytest

from mailengine.outbound.tracking_links import MAX_LINKS, LinkList, link_key, read_key

SECRET = b"k" * 32


@pytest.mark.parametrize("position", [0, 1, 20, MAX_LINKS, MAX_LINKS + 1, 65535])
def test_a_key_reads_back_at_any_position(position: int) -> None:
    digest = LinkList.of(("https://shop.example/a", "https://shop.example/b")).digest
    key = link_key(SECRET, 123456, position, digest)
    found = read_key(SECRET, key)
    assert found is not None
    assert (found.outbox_id, found.position, found.digest) == (123456, position, digest)
    assert read_key(b"other" * 8, key) is None
