"""E-mail addresses as keys: strict checking, one normal form, and the hash that outlives them."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from mailengine.errors import quoted

# Deliberately strict: one mailbox, no display name, no comments, a dotted domain.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_LOCAL}@{_LABEL}(?:\.{_LABEL})+$")


class InvalidAddressError(ValueError):
    """Not a single plain e-mail address."""


def normalize_email(raw: str) -> str:
    """The stored form of an address: trimmed and lower-cased; raises InvalidAddressError."""
    address = raw.strip()
    if len(address) > 254:
        raise InvalidAddressError(f"address is {len(address)} characters long (at most 254)")
    if not _ADDRESS.match(address):
        raise InvalidAddressError(f"{quoted(raw)} is not a valid e-mail address")
    local = address.rsplit("@", 1)[0]
    if len(local) > 64:
        raise InvalidAddressError(f"the part before '@' in {quoted(raw)} is over 64 characters")
    return address.lower()


def address_hash(address: str) -> str:
    """sha256 hex of the normalised address: the key of the suppression list."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[-1].lower()


@lru_cache(maxsize=256)
def address_problem(address: str) -> str | None:
    """Why the address cannot be used, or None. Remembered: the sender's addresses and domain
    come back in every message (recipients pass through without crowding them out)."""
    try:
        normalize_email(address)
    except InvalidAddressError as error:
        return str(error)
    return None
