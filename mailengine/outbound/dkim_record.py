"""The DNS TXT record a DKIM key needs, and whether the one published matches it.

`zone_entry` writes the record as a zone file line (the value cut into strings of at most
255 characters, as DNS requires). `check_published` asks DNS (dnspython, when it is
installed) for `<selector>._domainkey.<domain>` and compares the key (`p=`) and its type
(`k=`) with the signer's: a receiver verifies with what is published, nothing else.

It imports the signer, and dnspython only when a check is asked for.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Literal

from mailengine.outbound.dkim import DkimSigner

DNS_STRING = 255
CHECK_SECONDS = 4.0
State = Literal["matches", "differs", "missing", "unchecked"]


@dataclass(frozen=True)
class PublishedCheck:
    state: State
    detail: str


def record_name(signer: DkimSigner) -> str:
    return f"{signer.selector}._domainkey.{signer.domain}"


def zone_entry(signer: DkimSigner) -> str:
    """`mail._domainkey.shop.example. 3600 IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "..." )`."""
    value = signer.dns_record()
    parts = [value[start : start + DNS_STRING] for start in range(0, len(value), DNS_STRING)]
    strings = " ".join(f'"{part}"' for part in parts)
    return f"{record_name(signer)}. 3600 IN TXT ( {strings} )"


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        name, _, value = part.partition("=")
        tags[name.strip().lower()] = "".join(value.split())
    return tags


def compare(published: list[str], signer: DkimSigner) -> PublishedCheck:
    """How the TXT records found at the name compare with the signer's key."""
    wanted = _tags(signer.dns_record())
    keys = [_tags(record) for record in published if "p" in _tags(record)]
    if not keys:
        return PublishedCheck("missing", f"no DKIM record at {record_name(signer)}")
    for found in keys:
        if found.get("p") == wanted["p"] and found.get("k", "rsa") == wanted["k"]:
            return PublishedCheck("matches", f"{record_name(signer)} publishes this key")
    if any(not found.get("p") for found in keys):
        return PublishedCheck("differs", f"{record_name(signer)} publishes a revoked key (p=)")
    return PublishedCheck(
        "differs",
        f"{record_name(signer)} publishes another key: receivers will fail this key's "
        "signatures until the record above replaces it",
    )


def check_published(
    signer: DkimSigner, nameserver: tuple[str, int] | None = None, timeout: float = CHECK_SECONDS
) -> PublishedCheck:
    """Ask DNS (the system's resolver, or `nameserver`) for the published record."""
    if importlib.util.find_spec("dns") is None:
        return PublishedCheck(
            "unchecked",
            "could not check the published record: dnspython is not installed "
            "(pip install dnspython)",
        )
    import dns.exception
    import dns.resolver

    resolver: Any = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers = [nameserver[0]]
        resolver.port = nameserver[1]
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(record_name(signer), "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return PublishedCheck("missing", f"no TXT record at {record_name(signer)}")
    except dns.exception.DNSException as error:
        return PublishedCheck(
            "unchecked", f"could not check the published record: DNS did not answer ({error})"
        )
    published = [b"".join(rdata.strings).decode("ascii", "replace") for rdata in answer]
    return compare(published, signer)
