"""Per-ticket signed reply addresses: `support+t-42.3f9a0c1b2d4e5f60@shop.example`.

The team notification of ticket 42 carries this address as its Reply-To, so a team member
answers the customer by answering the notification from any mail client. The signature is an
HMAC-SHA256 (under the shop's secret key) of the ticket number: nobody who has not seen a
notification can write an address that relays to a customer, and an address of one ticket
cannot be turned into another's. Only lower-case hex, as servers may lower-case local parts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_SIGNATURE_LENGTH = 16
_PURPOSE = b"ticket-reply\x00"
_TAG = re.compile(r"^t-(\d{1,9})(?:\.([0-9a-z]*))?$")


@dataclass(frozen=True)
class ReplyAddressCheck:
    """What an address of the reply form says: the ticket, or why it is refused."""

    ticket_id: int | None
    problem: str | None = None

    @property
    def genuine(self) -> bool:
        return self.ticket_id is not None and self.problem is None


@dataclass(frozen=True)
class ReplyAddresses:
    """How the reply addresses of one shop are made: `<local>+t-<n>.<signature>@<domain>`."""

    support_address: str
    secret: bytes

    @property
    def local_part(self) -> str:
        return self.support_address.rpartition("@")[0].lower()

    @property
    def domain(self) -> str:
        return self.support_address.rpartition("@")[2].lower()

    def address(self, ticket_id: int) -> str:
        return f"{self.local_part}+t-{ticket_id}.{self._signature(ticket_id)}@{self.domain}"

    def check(self, address: str) -> ReplyAddressCheck | None:
        """None for an address that is not of the reply form at all; else the ticket of a
        genuine one, or the problem of an unsigned or forged one."""
        local, at, domain = address.strip().strip("<>").lower().rpartition("@")
        prefix = self.local_part + "+"
        if not at or domain != self.domain or not local.startswith(prefix):
            return None
        tag = local[len(prefix) :]
        found = _TAG.match(tag)
        if found is None:
            if tag.startswith("t-"):
                return ReplyAddressCheck(None, f"{address!r} is not a reply address we made")
            return None
        ticket_id, signature = int(found.group(1)), found.group(2)
        if not signature:
            return ReplyAddressCheck(ticket_id, "the reply address carries no signature")
        if not hmac.compare_digest(signature, self._signature(ticket_id)):
            return ReplyAddressCheck(ticket_id, "the reply address has a forged signature")
        return ReplyAddressCheck(ticket_id)

    def _signature(self, ticket_id: int) -> str:
        message = _PURPOSE + str(ticket_id).encode("ascii")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:_SIGNATURE_LENGTH]
