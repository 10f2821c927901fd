"""Which send a report belongs to, from the VERP bounce address it was sent to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailengine.outbound import decode_bounce_address


@dataclass(frozen=True)
class VerpKey:
    """How our bounce addresses are made (`local_part+<id>-<signature>@domain`)."""

    local_part: str
    domain: str
    secret: bytes

    def send_id(self, addresses: Iterable[str | None]) -> int | None:
        """The send id in the first genuine bounce address among `addresses`; forged ones fail."""
        for address in addresses:
            if not address:
                continue
            send_id = decode_bounce_address(
                address, local_part=self.local_part, domain=self.domain, secret=self.secret
            )
            if send_id is not None:
                return send_id
        return None
